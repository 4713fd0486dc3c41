// One email as an RFC 5322 message with a MIME multipart/alternative body (text, then HTML), the
// way a mail client would receive it. Bodies are base64 so any content survives unchanged; header
// values that are not plain ASCII are RFC 2047 encoded words.

import { randomBytes } from 'node:crypto'

import type { OutgoingEmail } from './email-provider.ts'

export function buildEml(
  email: OutgoingEmail,
  options: { providerMessageId: string; date: Date; domain: string },
): string {
  const boundary = `hivesync-${randomBytes(12).toString('hex')}`
  const headers: [string, string][] = [
    ['From', email.from],
    ['To', email.to],
    ['Subject', encodeHeader(email.subject)],
    ['Date', options.date.toUTCString().replace('GMT', '+0000')],
    ['Message-ID', `<${options.providerMessageId}@${options.domain}>`],
    ['MIME-Version', '1.0'],
    ...Object.entries(email.headers).map(([name, value]): [string, string] => [
      name,
      encodeHeader(value),
    ]),
    ['Content-Type', `multipart/alternative; boundary="${boundary}"`],
  ]

  return [
    ...headers.map(([name, value]) => `${name}: ${value}`),
    '',
    `--${boundary}`,
    ...part('text/plain; charset=utf-8', email.text),
    `--${boundary}`,
    ...part('text/html; charset=utf-8', email.html),
    `--${boundary}--`,
    '',
  ].join('\r\n')
}

function part(contentType: string, content: string): string[] {
  const encoded = Buffer.from(content, 'utf8').toString('base64')
  return [
    `Content-Type: ${contentType}`,
    'Content-Transfer-Encoding: base64',
    '',
    ...(encoded.match(/.{1,76}/g) ?? ['']),
  ]
}

function encodeHeader(value: string): string {
  const clean = value.replace(/[\r\n]+/g, ' ')
  if (/^[\x20-\x7e]*$/.test(clean)) return clean
  return `=?UTF-8?B?${Buffer.from(clean, 'utf8').toString('base64')}?=`
}
