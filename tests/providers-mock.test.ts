import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

import type { EmailBatch } from '../functions/_shared/email/email-provider.ts'
import { classifyStatus, retryAfter } from '../functions/_shared/email/http-batch.ts'
import { createMockProvider } from '../functions/_shared/email/mock-provider.ts'

function batch(key: string, subject = 'Maintenance on Sunday'): EmailBatch {
  return {
    messageId: 7,
    batchId: 'b-1',
    idempotencyKey: key,
    attempt: 1,
    emails: ['ada@example.com', 'grace@example.com'].map((to, index) => ({
      deliveryId: index + 1,
      to,
      from: '"HiveSync" <news@hivesync.test>',
      subject,
      html: '<p>We will be <strong>offline</strong> for an hour. Ünïcödé.</p>',
      text: 'We will be offline for an hour. Ünïcödé.',
      headers: { 'X-HiveSync-Message-Id': '7' },
    })),
  }
}

function emlFiles(dir: string): string[] {
  return readdirSync(dir).filter((file) => file.endsWith('.eml'))
}

describe('the mock provider', () => {
  it('writes one RFC 5322 file per email, with every header and a text and an HTML part', async () => {
    const outbox = mkdtempSync(join(tmpdir(), 'hivesync-outbox-'))
    const outcome = await createMockProvider({ outboxDir: outbox }).sendBatch(
      batch('k-1', 'Café ☕'),
    )

    expect(outcome.kind).toBe('delivered')
    const files = emlFiles(outbox)
    expect(files).toHaveLength(2)
    const ids =
      outcome.kind === 'delivered'
        ? outcome.results.map((r) => 'providerMessageId' in r && r.providerMessageId)
        : []
    expect(files.sort()).toEqual(ids.map((id) => `${id}.eml`).sort())

    const eml = readFileSync(join(outbox, `${ids[0]}.eml`), 'utf8')
    const headEnd = eml.indexOf('\r\n\r\n')
    const head = eml.slice(0, headEnd)
    const body = eml.slice(headEnd + 4)
    expect(head).toMatch(/^From: "HiveSync" <news@hivesync.test>\r\n/)
    expect(head).toContain('To: ada@example.com')
    expect(head).toContain(`Subject: =?UTF-8?B?${Buffer.from('Café ☕').toString('base64')}?=`)
    expect(head).toMatch(/\r\nDate: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000/)
    expect(head).toContain(`Message-ID: <${ids[0]}@mock.hivesync.local>`)
    expect(head).toContain('MIME-Version: 1.0')
    expect(head).toContain('X-HiveSync-Message-Id: 7')
    const boundary = /boundary="([^"]+)"/.exec(head)![1]!
    const parts = body.split(`--${boundary}`).slice(1, 3)
    const decode = (part: string) =>
      Buffer.from(part.split('\r\n\r\n')[1]!.replace(/\r\n/g, ''), 'base64').toString('utf8')
    expect(parts[0]).toContain('Content-Type: text/plain; charset=utf-8')
    expect(decode(parts[0]!)).toBe('We will be offline for an hour. Ünïcödé.')
    expect(parts[1]).toContain('Content-Type: text/html; charset=utf-8')
    expect(decode(parts[1]!)).toContain('<strong>offline</strong>')
    expect(eml.endsWith(`--${boundary}--\r\n`)).toBe(true)
  })

  it('answers a repeated key and payload with the first answer and no new file, even after a restart', async () => {
    const outbox = mkdtempSync(join(tmpdir(), 'hivesync-outbox-'))
    const first = await createMockProvider({ outboxDir: outbox }).sendBatch(batch('k-2'))
    const again = await createMockProvider({ outboxDir: outbox }).sendBatch(batch('k-2'))

    expect(again).toEqual(first)
    expect(emlFiles(outbox)).toHaveLength(2)
  })

  it('refuses the same key with another payload as a conflict, writing nothing', async () => {
    const outbox = mkdtempSync(join(tmpdir(), 'hivesync-outbox-'))
    const provider = createMockProvider({ outboxDir: outbox })
    await provider.sendBatch(batch('k-3'))

    const conflict = await provider.sendBatch(batch('k-3', 'Another subject'))

    expect(conflict).toMatchObject({ kind: 'rejected', cause: 'idempotency_conflict' })
    expect(emlFiles(outbox)).toHaveLength(2)
  })

  it('writes a batch once when two drainers send the same key at the same moment', async () => {
    const outbox = mkdtempSync(join(tmpdir(), 'hivesync-outbox-'))
    const [a, b] = await Promise.all([
      createMockProvider({ outboxDir: outbox }).sendBatch(batch('k-4')),
      createMockProvider({ outboxDir: outbox }).sendBatch(batch('k-4')),
    ])

    expect(a).toEqual(b)
    expect(emlFiles(outbox)).toHaveLength(2)
  })

  it('refuses an implausible address alone, sending the rest of the batch', async () => {
    const outbox = mkdtempSync(join(tmpdir(), 'hivesync-outbox-'))
    const request = batch('k-5')
    request.emails[1]!.to = 'not-an-address'

    const outcome = await createMockProvider({ outboxDir: outbox }).sendBatch(request)

    expect(outcome).toMatchObject({
      kind: 'delivered',
      results: [{ deliveryId: 1 }, { deliveryId: 2, error: expect.stringMatching(/^rejected: /) }],
    })
    expect(emlFiles(outbox)).toHaveLength(1)
  })
})

describe('HTTP batch classification', () => {
  it('retries 429, 408 and 5xx, fails the job on 401 and 403, and fails other 4xx at once', () => {
    const none = new Headers()
    expect(classifyStatus(429, new Headers({ 'retry-after': '30' }), null)).toEqual({
      kind: 'transient',
      cause: 'rate_limited',
      detail: 'HTTP 429',
      retryAfterSeconds: 30,
    })
    expect(classifyStatus(408, none, null)).toMatchObject({ kind: 'transient', cause: 'timeout' })
    expect(classifyStatus(503, none, { name: 'internal_server_error', message: 'down' })).toEqual({
      kind: 'transient',
      cause: 'provider_error',
      detail: 'HTTP 503 internal_server_error: down',
    })
    expect(classifyStatus(401, none, null)).toMatchObject({ kind: 'unauthorized' })
    expect(classifyStatus(403, none, null)).toMatchObject({ kind: 'unauthorized' })
    expect(classifyStatus(422, none, null)).toMatchObject({ kind: 'rejected', cause: 'rejected' })
  })

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2030-01-01T00:00:00Z')
    expect(retryAfter(new Headers({ 'retry-after': '120' }), now)).toEqual({
      retryAfterSeconds: 120,
    })
    expect(
      retryAfter(new Headers({ 'retry-after': 'Tue, 01 Jan 2030 00:02:30 GMT' }), now),
    ).toEqual({
      retryAfterSeconds: 150,
    })
    expect(retryAfter(new Headers({ 'retry-after': 'soon' }), now)).toEqual({})
  })
})
