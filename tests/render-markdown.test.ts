import { describe, expect, it } from 'vitest'

import { markdownToText, renderMarkdown } from '../functions/_shared/render-markdown.ts'

describe('renderMarkdown', () => {
  it('renders Markdown to structural HTML', () => {
    expect(renderMarkdown('# Title\n\nSome **bold**, *em* and `code`.\n\n- a\n- b')).toBe(
      '<h1>Title</h1>\n<p>Some <strong>bold</strong>, <em>em</em> and <code>code</code>.</p>\n' +
        '<ul>\n<li>a</li>\n<li>b</li>\n</ul>',
    )
  })

  it('keeps http, https and mailto links, opening them outside the page', () => {
    expect(renderMarkdown('[site](https://hivesync.app) [mail](mailto:help@hivesync.app)')).toBe(
      '<p><a href="https://hivesync.app" rel="noopener noreferrer" target="_blank">site</a> ' +
        '<a href="mailto:help@hivesync.app" rel="noopener noreferrer" target="_blank">mail</a></p>',
    )
  })

  it.each([
    ['a javascript: link', '[x](javascript:alert(1))', /javascript/i],
    [
      'a JavaScript: link in odd case and entities',
      '<a href="JaVaScRiPt&colon;alert(1)">x</a>',
      /script/i,
    ],
    ['a data: link', '[x](data:text/html;base64,PHNjcmlwdD4=)', /data:/i],
    ['a data: image', '![x](data:image/svg+xml;base64,PHN2Zz4=)', /data:/i],
    ['a vbscript: link', '<a href="vbscript:msgbox(1)">x</a>', /vbscript/i],
    ['an event handler', '<img src="https://x.test/a.png" onerror="alert(1)">', /onerror|alert/i],
    [
      'an event handler on a link',
      '<a href="https://x.test" onclick="steal()">x</a>',
      /onclick|steal/i,
    ],
    ['a style attribute', '<p style="position:fixed;top:0">x</p>', /style|fixed/i],
    ['a style element', '<style>body{display:none}</style>hi', /style|display/i],
    ['a script element', 'before <script>alert(document.cookie)</script> after', /script|cookie/i],
    ['an iframe', '<iframe src="https://evil.test"></iframe>', /iframe|evil/i],
    ['a form', '<form action="https://evil.test"><input name="p"></form>', /form|input|evil/i],
    ['an svg with script', '<svg><script>alert(1)</script></svg>', /svg|script|alert/i],
    ['a class attribute', '<span class="admin-only">x</span>', /class/i],
  ])('removes %s', (_name, source, forbidden) => {
    expect(renderMarkdown(source)).not.toMatch(forbidden)
  })

  it('escapes text that looks like HTML in code', () => {
    expect(renderMarkdown('`<b>` and\n\n```\n<script>\n```')).toBe(
      '<p><code>&lt;b&gt;</code> and</p>\n<pre><code>&lt;script&gt;\n</code></pre>',
    )
  })
})

describe('markdownToText', () => {
  it('gives readable text with link targets and list markers', () => {
    expect(
      markdownToText(
        '# Release 5\n\nRead [the notes](https://hivesync.app/5) **now**.\n\n1. one\n2. two\n\n> quoted',
      ),
    ).toBe(
      'Release 5\n\nRead the notes (https://hivesync.app/5) now.\n\n1. one\n2. two\n\n> quoted',
    )
  })

  it('leaves out scripts, unsafe link targets and tags from raw HTML', () => {
    const text = markdownToText(
      'Hi <script>alert(1)</script> [x](javascript:alert(2)) <b>bold</b> &amp; 5 < 6',
    )
    expect(text).toBe('Hi  x bold & 5 < 6')
  })
})
