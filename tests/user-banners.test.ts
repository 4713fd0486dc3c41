import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { asCaller, type FunctionApp } from '../functions/_shared/app.ts'
import { connect, type Sql } from '../functions/_shared/db.ts'
import { createUserApp } from '../functions/user/app.ts'
import { callApp, testConfig, tokenFor } from './support/api-client.ts'
import { useTestDatabase } from './support/database.ts'
import { createDelivery, createMessage, createUser, type UserRow } from './support/fixtures.ts'

const db = useTestDatabase()

let sql: Sql
let app: FunctionApp
let alice: UserRow
let bob: UserRow
let aliceToken: string
let bobToken: string
const banners: Record<string, { id: number }> = {}

const call = (method: string, path: string, token?: string) =>
  callApp(app, method, `/user${path}`, { token })

beforeAll(async () => {
  sql = connect(db.url, { max: 4 })
  app = createUserApp({
    sql,
    config: testConfig({ HIVESYNC_CORS_ORIGINS: 'https://app.hivesync.test' }),
  })

  // A probe route on the real app, behind the real middleware, that reports who the database
  // thinks the caller is and what an unfiltered read of deliveries returns.
  app.get('/probe', async (c) => {
    const result = await asCaller(sql, c, async (tx) => {
      const [who] = await tx<{ current_user: string; uid: string }[]>`
        select current_user, auth.uid() as uid
      `
      const deliveries = await tx<
        { user_id: string }[]
      >`select user_id from public.message_deliveries`
      return { ...who, delivery_users: [...new Set(deliveries.map((row) => row.user_id))] }
    })
    return c.json(result)
  })

  alice = await createUser(db.sql, { email: 'alice@example.com' })
  bob = await createUser(db.sql, { email: 'bob@example.com' })
  aliceToken = await tokenFor(alice)
  bobToken = await tokenFor(bob)

  const hour = 3600_000
  banners.older = await createMessage(db.sql, {
    status: 'sent',
    channel: 'in_app',
    subject: 'Older',
  })
  banners.newer = await createMessage(db.sql, {
    status: 'sent',
    channel: 'both',
    subject: 'Newer',
    body_markdown: 'See [notes](https://hivesync.app) <img src=x onerror=alert(1)>',
    expires_at: new Date(Date.now() + 24 * hour),
  })
  banners.expired = await createMessage(db.sql, {
    status: 'sent',
    channel: 'in_app',
    subject: 'Expired',
  })
  banners.retracted = await createMessage(db.sql, {
    status: 'sent',
    channel: 'in_app',
    subject: 'Retracted',
  })
  banners.emailOnly = await createMessage(db.sql, {
    status: 'sent',
    channel: 'email',
    subject: 'Email',
  })
  banners.forBob = await createMessage(db.sql, {
    status: 'sent',
    channel: 'in_app',
    subject: 'Bob',
  })

  await db.sql`update public.messages set queued_at = now() - interval '2 hours' where id = ${banners.older!.id}`
  await db.sql`
    update public.messages set created_at = now() - interval '3 days',
      expires_at = now() - interval '1 hour' where id = ${banners.expired!.id}
  `
  await db.sql`update public.messages set retracted_at = now() where id = ${banners.retracted!.id}`

  for (const name of ['older', 'newer', 'expired', 'retracted']) {
    await createDelivery(db.sql, {
      message_id: banners[name]!.id,
      user_id: alice.id,
      channel: 'in_app',
    })
  }
  await createDelivery(db.sql, {
    message_id: banners.newer!.id,
    user_id: alice.id,
    channel: 'email',
    status: 'sent',
  })
  await createDelivery(db.sql, {
    message_id: banners.emailOnly!.id,
    user_id: alice.id,
    channel: 'email',
    status: 'sent',
  })
  await createDelivery(db.sql, {
    message_id: banners.forBob!.id,
    user_id: bob.id,
    channel: 'in_app',
  })
})

afterAll(async () => {
  await sql?.end({ timeout: 5 })
})

describe('GET /user/messages/active', () => {
  it('returns the caller’s active banners, newest first, with exactly the banner fields', async () => {
    const response = await call('GET', '/messages/active', aliceToken)
    expect(response.status).toBe(200)
    expect(response.body.items.map((item: { subject: string }) => item.subject)).toEqual([
      'Newer',
      'Older',
    ])

    const [newer] = response.body.items
    expect(Object.keys(newer).sort()).toEqual(
      ['body_html', 'body_markdown', 'created_at', 'expires_at', 'id', 'subject'].sort(),
    )
    expect(newer.body_html).toBe(
      '<p>See <a href="https://hivesync.app" rel="noopener noreferrer" target="_blank">notes</a> ' +
        '<img src="x" /></p>',
    )
    expect(newer.expires_at).not.toBeNull()
  })

  it('shows another user only their own banners', async () => {
    const response = await call('GET', '/messages/active', bobToken)
    expect(response.body.items.map((item: { id: number }) => item.id)).toEqual([banners.forBob!.id])
  })

  it('answers 401 without a token', async () => {
    const response = await call('GET', '/messages/active')
    expect(response.status).toBe(401)
    expect(response.body.error.code).toBe('missing_token')
  })
})

describe('POST /user/messages/{id}/dismiss', () => {
  it('dismisses a banner once; repeating it changes nothing', async () => {
    const first = await call('POST', `/messages/${banners.older!.id}/dismiss`, aliceToken)
    expect(first.status).toBe(200)
    expect(first.body.message_id).toBe(banners.older!.id)

    const second = await call('POST', `/messages/${banners.older!.id}/dismiss`, aliceToken)
    expect(second.status).toBe(200)
    expect(second.body.dismissed_at).toBe(first.body.dismissed_at)

    const active = await call('GET', '/messages/active', aliceToken)
    expect(active.body.items.map((item: { subject: string }) => item.subject)).toEqual(['Newer'])
    const [state] = await db.sql`
      select count(*)::int as n from public.user_message_state where user_id = ${alice.id}
    `
    expect(state!.n).toBe(1)
  })

  it('answers 404 for another user’s banner, an email-only message and an unknown id', async () => {
    for (const id of [banners.forBob!.id, banners.emailOnly!.id, 999_999]) {
      const response = await call('POST', `/messages/${id}/dismiss`, aliceToken)
      expect(response.status).toBe(404)
      expect(response.body.error.code).toBe('message_not_found')
    }
    const [state] = await db.sql`
      select count(*)::int as n from public.user_message_state where message_id = ${banners.forBob!.id}
    `
    expect(state!.n).toBe(0)
  })

  it('answers 400 for an id that is not a number and 401 without a token', async () => {
    const bad = await call('POST', '/messages/first/dismiss', aliceToken)
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('invalid_request')
    expect((await call('POST', `/messages/${banners.newer!.id}/dismiss`)).status).toBe(401)
  })
})

describe('requests run as the caller', () => {
  it('sees current_user authenticated and only the caller’s deliveries', async () => {
    const response = await call('GET', '/probe', aliceToken)
    expect(response.status).toBe(200)
    expect(response.body).toEqual({
      current_user: 'authenticated',
      uid: alice.id,
      delivery_users: [alice.id],
    })
  })
})

describe('CORS', () => {
  it('answers a preflight from a configured origin without a token', async () => {
    const response = await app.request('/user/messages/active', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.hivesync.test',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    })
    expect(response.status).toBe(204)
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.hivesync.test')
    expect(response.headers.get('access-control-allow-headers')).toContain('authorization')
  })

  it('lets a web view read an error, so it can tell that the session expired', async () => {
    const response = await callApp(app, 'GET', '/user/messages/active', {
      headers: { origin: 'https://app.hivesync.test' },
    })
    expect(response.status).toBe(401)
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.hivesync.test')
  })

  it('grants no other origin', async () => {
    const response = await callApp(app, 'GET', '/user/messages/active', {
      token: aliceToken,
      headers: { origin: 'https://evil.test' },
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('unknown routes', () => {
  it('answers 404 in the error shape', async () => {
    const response = await call('GET', '/messages', aliceToken)
    expect(response.status).toBe(404)
    expect(response.body.error.code).toBe('route_not_found')
  })
})
