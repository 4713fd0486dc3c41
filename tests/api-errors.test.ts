// Failures and logs: an unexpected failure is a bare 500 (logged in full, shown to no one), and
// every request leaves exactly one JSON log line, which never holds a token.

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'

import { createApi, otherJwtSecret, tokenFor, type Api } from './support/api.ts'
import { useTestDatabase } from './support/database.ts'
import { createAdmin, createMessage, createUser, type UserRow } from './support/fixtures.ts'

const db = useTestDatabase()

let api: Api
let admin: UserRow
let user: UserRow
let lines: string[]

beforeAll(async () => {
  api = createApi(db.url)
  admin = await createAdmin(db.sql)
  user = await createUser(db.sql)
})

afterAll(async () => {
  await api?.close()
})

function captureLogs(): void {
  lines = []
  const keep = (...args: unknown[]) => {
    lines.push(args.map(String).join(' '))
  }
  vi.spyOn(console, 'log').mockImplementation(keep)
  vi.spyOn(console, 'error').mockImplementation(keep)
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('an unexpected failure', () => {
  it('answers 500 with no internals and logs the cause', async () => {
    // A database missing a function the API relies on stands in for any failure we did not expect.
    const message = await createMessage(db.sql, { status: 'sent', channel: 'in_app' })
    await db.sql`drop function public.retract_message(bigint, timestamptz)`
    captureLogs()

    const response = await api.call(
      api.admin,
      'POST',
      `/admin/messaging/messages/${message.id}/retract`,
      {
        token: await tokenFor(admin),
      },
    )

    expect(response.status).toBe(500)
    expect(response.body).toEqual({
      error: {
        code: 'internal',
        message: 'Something went wrong on our side; it has been logged.',
        details: null,
      },
    })
    const failure = lines
      .map((line) => JSON.parse(line))
      .find((entry) => entry.message === 'request failed')
    expect(failure).toMatchObject({ level: 'error', code: 'internal' })
    expect(failure.error).toMatch(/retract_message/)
  })
})

describe('input that every route refuses alike', () => {
  const bodyRoutes = [
    ['POST', '/admin/messaging/compose'],
    ['PATCH', '/admin/messaging/messages/1'],
    ['POST', '/admin/messaging/estimate'],
    ['PUT', '/admin/messaging/kill-switch'],
  ] as const

  it.each(bodyRoutes)('%s %s answers 400, 413 and 415 for bad bodies', async (method, path) => {
    const token = await tokenFor(admin)
    const malformed = await api.call(api.admin, method, path, { token, body: '{"a": ' })
    const tooLarge = await api.call(api.admin, method, path, {
      token,
      body: { a: 'x'.repeat(300_000) },
    })
    const notJson = await api.call(api.admin, method, path, {
      token,
      body: 'a=1',
      headers: { 'content-type': 'text/plain' },
    })
    expect([malformed.body.error.code, tooLarge.body.error.code, notJson.body.error.code]).toEqual([
      'invalid_json',
      'payload_too_large',
      'unsupported_media_type',
    ])
    expect([malformed.status, tooLarge.status, notJson.status]).toEqual([400, 413, 415])
  })

  const idRoutes = [
    ['GET', '/admin/messaging/messages/{id}'],
    ['PATCH', '/admin/messaging/messages/{id}'],
    ['DELETE', '/admin/messaging/messages/{id}'],
    ['GET', '/admin/messaging/messages/{id}/preview'],
    ['GET', '/admin/messaging/messages/{id}/deliveries'],
    ['POST', '/admin/messaging/send/{id}'],
    ['POST', '/admin/messaging/messages/{id}/cancel'],
    ['POST', '/admin/messaging/messages/{id}/retract'],
  ] as const

  it.each(idRoutes)(
    '%s %s answers 400 for an id that is not a positive whole number',
    async (method, path) => {
      const token = await tokenFor(admin)
      for (const id of ['abc', '0', '-3', '1.5', '0x10', '9999999999999999999']) {
        const response = await api.call(api.admin, method, path.replace('{id}', id), {
          token,
          body: method === 'PATCH' ? { subject: 'x' } : undefined,
        })
        expect(response.status, id).toBe(400)
        expect(response.body.error.message).toContain('path.id')
      }
    },
  )
})

describe('request logs', () => {
  it('are one JSON line per request with method, route, status, duration and caller, never a token', async () => {
    const valid = await tokenFor(user)
    const expired = await tokenFor(user, {
      now: new Date(Date.now() - 7200_000),
      expiresInSeconds: 60,
    })
    const forged = await tokenFor(admin, { secret: otherJwtSecret })
    captureLogs()

    await api.call(api.user, 'GET', '/user/messages/active', { token: valid })
    await api.call(api.user, 'GET', '/user/messages/active', { token: expired })
    await api.call(api.admin, 'GET', '/admin/messaging/messages', { token: forged })
    await api.call(api.admin, 'GET', '/admin/messaging/messages', { token: valid })
    await api.call(api.user, 'POST', '/user/messages/123/dismiss', { token: valid })

    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
    const requests = entries.filter((entry) => entry.message === 'request')
    expect(
      requests.map((entry) => [entry.method, entry.route, entry.status, entry.user_id]),
    ).toEqual([
      ['GET', '/user/messages/active', 200, user.id],
      ['GET', '/user/*', 401, null],
      ['GET', '/admin/*', 401, null],
      ['GET', '/admin/*', 403, user.id],
      ['POST', '/user/messages/:id/dismiss', 404, user.id],
    ])
    for (const entry of requests) expect(entry.duration_ms).toEqual(expect.any(Number))

    for (const token of [valid, expired, forged]) {
      const signature = token.split('.')[2]!
      for (const line of lines) {
        expect(line).not.toContain(token)
        expect(line).not.toContain(signature)
      }
    }
  })
})
