// Markdown from the admin becomes HTML for banners, previews and emails, and plain text for the
// text part of emails. The HTML is cleaned after rendering, so raw HTML inside the Markdown gets
// the same treatment as Markdown syntax: only structural tags survive, with no styles, classes or
// event handlers, and links only to http, https and mailto. Email clients and web views render
// this HTML, so anything that could run script or restyle the host page is removed.

import { Marked, type Token, type Tokens } from 'marked'
import sanitizeHtml from 'sanitize-html'

const markdown = new Marked({ gfm: true, breaks: false, async: false })

const allowedTags = [
  'p',
  'br',
  'hr',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'strong',
  'b',
  'em',
  'i',
  'del',
  's',
  'code',
  'pre',
  'blockquote',
  'ul',
  'ol',
  'li',
  'a',
  'img',
  'table',
  'thead',
  'tbody',
  'tr',
  'th',
  'td',
]

const sanitizeOptions: sanitizeHtml.IOptions = {
  allowedTags,
  allowedAttributes: {
    a: ['href', 'title'],
    img: ['src', 'alt', 'title'],
    ol: ['start'],
    th: ['align'],
    td: ['align'],
  },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: { img: ['https'] },
  allowProtocolRelative: false,
  disallowedTagsMode: 'discard',
  // Links open outside the app and give the target no handle on the page that opened it.
  transformTags: {
    a: sanitizeHtml.simpleTransform('a', { rel: 'noopener noreferrer', target: '_blank' }),
  },
}

// transformTags adds rel and target after the attribute filter ran, so they are allowed here.
sanitizeOptions.allowedAttributes = {
  ...(sanitizeOptions.allowedAttributes as Record<string, string[]>),
  a: ['href', 'title', 'rel', 'target'],
}

/** Safe HTML for a banner, a preview or an email body. */
export function renderMarkdown(source: string): string {
  const html = markdown.parse(source) as string
  return sanitizeHtml(html, sanitizeOptions).trim()
}

/** A readable plain-text version: the text part of an email. */
export function markdownToText(source: string): string {
  const blocks = markdown
    .lexer(source)
    .map((token) => blockText(token).trim())
    .filter((text) => text)
  const lines = blocks
    .join('\n\n')
    .split('\n')
    .map((line) => line.replace(/\s+$/, ''))
  return lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()
}

function blockText(token: Token): string {
  switch (token.type) {
    case 'heading':
    case 'paragraph':
      return inlineText((token as Tokens.Heading | Tokens.Paragraph).tokens)
    case 'code':
      return (token as Tokens.Code).text
    case 'blockquote':
      return (token as Tokens.Blockquote).tokens
        .map(blockText)
        .join('\n\n')
        .split('\n')
        .map((line) => `> ${line}`)
        .join('\n')
    case 'list': {
      const list = token as Tokens.List
      const first = typeof list.start === 'number' ? list.start : 1
      return list.items
        .map((item, index) => {
          const marker = list.ordered ? `${first + index}.` : '-'
          const body = item.tokens
            .map(blockText)
            .filter((text) => text)
            .join('\n')
          return `${marker} ${body.replace(/\n/g, '\n  ')}`
        })
        .join('\n')
    }
    case 'table': {
      const table = token as Tokens.Table
      const row = (cells: Tokens.TableCell[]) => cells.map((cell) => inlineText(cell.tokens))
      return [row(table.header), ...table.rows.map(row)]
        .map((cells) => cells.join(' | '))
        .join('\n')
    }
    case 'hr':
      return '---'
    case 'html':
      return htmlText((token as Tokens.HTML).text)
    case 'text': {
      const text = token as Tokens.Text
      return text.tokens ? inlineText(text.tokens) : text.text
    }
    default:
      return ''
  }
}

// Inline raw HTML arrives as separate opening and closing tags; what sits between the tags of an
// element that never shows as text (a script, say) is left out, as the rendered HTML leaves it out.
const hiddenElement =
  /^<(\/?)(script|style|iframe|object|embed|noscript|template|textarea|title)\b/i

const textSchemes = /^(https?:|mailto:)/i

function inlineText(tokens: Token[] | undefined): string {
  if (!tokens) return ''
  let hiddenDepth = 0
  return tokens
    .map((token) => {
      if (token.type === 'html') {
        const hidden = hiddenElement.exec((token as Tokens.Tag).text)
        if (hidden) hiddenDepth = Math.max(0, hiddenDepth + (hidden[1] ? -1 : 1))
      }
      if (hiddenDepth > 0) return ''

      switch (token.type) {
        case 'link': {
          const link = token as Tokens.Link
          const label = inlineText(link.tokens)
          if (!textSchemes.test(link.href)) return label
          return label && label !== link.href ? `${label} (${link.href})` : link.href
        }
        case 'image': {
          const image = token as Tokens.Image
          return image.text ? `[${image.text}]` : ''
        }
        case 'br':
          return '\n'
        case 'codespan':
          return decodeEntities((token as Tokens.Codespan).text)
        case 'html':
          return htmlText((token as Tokens.Tag).text)
        case 'escape':
          return (token as Tokens.Escape).text
        default: {
          const withChildren = token as Tokens.Generic
          if (Array.isArray(withChildren.tokens)) return inlineText(withChildren.tokens)
          return decodeEntities(String(withChildren.text ?? ''))
        }
      }
    })
    .join('')
}

/** Raw HTML in the Markdown contributes its text only. */
function htmlText(html: string): string {
  return decodeEntities(sanitizeHtml(html, { allowedTags: [], allowedAttributes: {} })).trim()
}

function decodeEntities(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
}
