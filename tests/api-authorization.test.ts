// Who may call what: every admin route with no token, an expired token, a token signed with the
// wrong key, a non-admin's token and the admin's token; every user route as the banner's owner
// and as another user. Only the intended calls succeed, and 401 comes before any validation.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { createApi, otherJwtSecret, tokenFor, type Api } from './support/api.ts'
import { useTestDatabase } from './support/database.ts'
import {
  createAdmin,
  createDelivery,
  createMessage,
  createUser,
  type UserRow,
} from './support/fixtures.ts'

const db = useTestDatabase()

let api: Api
let admin: UserRow
let member: UserRow
let owner: UserRow
let stranger: UserRow
const tokens: Record<string, string | undefined> = {}

interface AdminCall {
  method: string
  /** Creates what the call needs and returns its path after /admin/messaging. */
  path: () => Promise<string>
  body?: unknown
  /** The admin's expected status. */
  status: number
}

const draft = async () =>
  (await createMessage(db.sql, { channel: 'both', filters_json: { plan: 'paid' } })).id

const adminCalls: Record<string, AdminCall> = {
  'POST /compose': {
    method: 'POST',
    path: async () => '/compose',
    body: { subject: 's', body_markdown: 'b', channel: 'in_app', filters: {} },
    status: 201,
  },
  'PATCH /messages/{id}': {
    method: 'PATCH',
    path: async () => `/messages/${await draft()}`,
    body: { subject: 'changed' },
    status: 200,
  },
  'DELETE /messages/{id}': {
    method: 'DELETE',
    path: async () => `/messages/${await draft()}`,
    status: 204,
  },
  'POST /estimate': {
    method: 'POST',
    path: async () => '/estimate',
    body: { filters: {} },
    status: 200,
  },
  'GET /messages/{id}/preview': {
    method: 'GET',
    path: async () => `/messages/${await draft()}/preview`,
    status: 200,
  },
  'POST /send/{id}': { method: 'POST', path: async () => `/send/${await draft()}`, status: 200 },
  'GET /messages': { method: 'GET', path: async () => '/messages', status: 200 },
  'GET /messages/{id}': {
    method: 'GET',
    path: async () => `/messages/${await draft()}`,
    status: 200,
  },
  'GET /messages/{id}/deliveries': {
    method: 'GET',
    path: async () => `/messages/${await draft()}/deliveries`,
    status: 200,
  },
  'POST /messages/{id}/cancel': {
    method: 'POST',
    path: async () => `/messages/${(await createMessage(db.sql, { status: 'queued' })).id}/cancel`,
    status: 200,
  },
  'POST /messages/{id}/retract': {
    method: 'POST',
    path: async () =>
      `/messages/${(await createMessage(db.sql, { status: 'sent', channel: 'in_app' })).id}/retract`,
    status: 200,
  },
  'GET /kill-switch': { method: 'GET', path: async () => '/kill-switch', status: 200 },
  'PUT /kill-switch': {
    method: 'PUT',
    path: async () => '/kill-switch',
    body: { email_disabled: false },
    status: 200,
  },
  'GET /openapi.json': { method: 'GET', path: async () => '/openapi.json', status: 200 },
}

const callers: [string, number, string | null][] = [
  ['no token', 401, 'missing_token'],
  ['an expired token', 401, 'token_expired'],
  ['a token signed with the wrong key', 401, 'invalid_token'],
  ['a non-admin’s token', 403, 'not_admin'],
  ['the admin’s token', 0, null],
]

beforeAll(async () => {
  admin = await createAdmin(db.sql)
  member = await createUser(db.sql, { plan: 'paid' })
  owner = await createUser(db.sql)
  stranger = await createUser(db.sql)
  api = createApi(db.url)

  tokens['no token'] = undefined
  tokens['an expired token'] = await tokenFor(admin, {
    now: new Date(Date.now() - 2 * 3600_000),
    expiresInSeconds: 3600,
  })
  tokens['a token signed with the wrong key'] = await tokenFor(admin, { secret: otherJwtSecret })
  tokens['a non-admin’s token'] = await tokenFor(member)
  tokens['the admin’s token'] = await tokenFor(admin)
})

afterAll(async () => {
  await api?.close()
})

describe.each(Object.entries(adminCalls))('admin %s', (_name, call) => {
  it.each(callers)('with %s', async (caller, expectedStatus, expectedCode) => {
    const response = await api.call(
      api.admin,
      call.method,
      `/admin/messaging${await call.path()}`,
      {
        token: tokens[caller],
        body: call.body,
      },
    )

    if (expectedCode === null) {
      expect(response.status, JSON.stringify(response.body)).toBe(call.status)
    } else {
      expect(response.status).toBe(expectedStatus)
      expect(response.body.error.code).toBe(expectedCode)
    }
  })
})

describe('authentication comes before validation', () => {
  it('answers 401, not 400, for an invalid body or id without a token', async () => {
    const badBody = await api.call(api.admin, 'POST', '/admin/messaging/compose', { body: '{oops' })
    const badId = await api.call(api.user, 'POST', '/user/messages/not-a-number/dismiss')
    expect([badBody.status, badId.status]).toEqual([401, 401])
  })

  it('answers 403, not 400, for a non-admin sending an invalid body', async () => {
    const response = await api.call(api.admin, 'POST', '/admin/messaging/compose', {
      token: tokens['a non-admin’s token'],
      body: { nonsense: true },
    })
    expect(response.status).toBe(403)
  })
})

describe('user routes', () => {
  let banner: { id: number }

  beforeAll(async () => {
    banner = await createMessage(db.sql, { status: 'sent', channel: 'in_app' })
    await createDelivery(db.sql, { message_id: banner.id, user_id: owner.id, channel: 'in_app' })
  })

  it('GET /messages/active shows the banner to its owner only', async () => {
    const asOwner = await api.call(api.user, 'GET', '/user/messages/active', {
      token: await tokenFor(owner),
    })
    const asStranger = await api.call(api.user, 'GET', '/user/messages/active', {
      token: await tokenFor(stranger),
    })
    expect(asOwner.status).toBe(200)
    expect(asOwner.body.items.map((item: { id: number }) => item.id)).toEqual([banner.id])
    expect(asStranger.status).toBe(200)
    expect(asStranger.body.items).toEqual([])
  })

  it('POST /messages/{id}/dismiss works for the owner and is 404 for another user', async () => {
    const asStranger = await api.call(api.user, 'POST', `/user/messages/${banner.id}/dismiss`, {
      token: await tokenFor(stranger),
    })
    expect(asStranger.status).toBe(404)

    const asOwner = await api.call(api.user, 'POST', `/user/messages/${banner.id}/dismiss`, {
      token: await tokenFor(owner),
    })
    expect(asOwner.status).toBe(200)
  })

  it.each(callers.slice(1, 3))('refuses %s', async (caller, status, code) => {
    const token =
      caller === 'an expired token'
        ? await tokenFor(owner, { now: new Date(Date.now() - 7200_000), expiresInSeconds: 60 })
        : await tokenFor(owner, { secret: otherJwtSecret })
    for (const [method, path] of [
      ['GET', '/user/messages/active'],
      ['POST', `/user/messages/${banner.id}/dismiss`],
    ] as const) {
      const response = await api.call(api.user, method, path, { token })
      expect(response.status).toBe(status)
      expect(response.body.error.code).toBe(code)
    }
  })
})
