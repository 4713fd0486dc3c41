// The admin API's behaviour, written once and run twice: straight against the test database
// (tests/api-admin.test.ts) and through a transaction-mode pooler (tests/system). `target` says
// where the functions connect; fixtures are always written directly as the superuser.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import type { Sql } from '../../functions/_shared/db.ts'
import { createApi, tokenFor, type Api } from './api.ts'
import { createAdmin, createDelivery, createMessage, createUser, type UserRow } from './fixtures.ts'

export interface ScenarioTarget {
  /** Where the functions connect. */
  url(): string
  /** Superuser connection to the same database, for fixtures. */
  sql(): Sql
}

export function describeAdminApi(target: ScenarioTarget): void {
  let api: Api
  let admin: UserRow
  let adminToken: string
  let paidUser: UserRow
  let optedOut: UserRow

  const call = (method: string, path: string, body?: unknown) =>
    api.call(api.admin, method, `/admin/messaging${path}`, { token: adminToken, body })

  const compose = async (fields: Record<string, unknown> = {}) => {
    const response = await call('POST', '/compose', {
      subject: 'Release 5',
      body_markdown: 'Hello **there**',
      channel: 'both',
      filters: { plan: 'paid' },
      ...fields,
    })
    expect(response.status).toBe(201)
    return response.body as { id: number }
  }

  beforeAll(async () => {
    const sql = target.sql()
    admin = await createAdmin(sql, { email: 'admin@example.com' })
    paidUser = await createUser(sql, { email: 'paid@example.com', plan: 'paid' })
    optedOut = await createUser(sql, {
      email: 'out@example.com',
      plan: 'paid',
      email_opt_out: true,
    })
    await createUser(sql, { email: 'free@example.com', plan: 'free' })
    adminToken = await tokenFor(admin)
    api = createApi(target.url())
  })

  afterAll(async () => {
    await api?.close()
  })

  describe('POST /messaging/compose', () => {
    it('creates a draft by the admin with its filters, description and rendered body', async () => {
      const response = await call('POST', '/compose', {
        subject: 'Release 5',
        body_markdown: 'Hello **there** <script>alert(1)</script>',
        channel: 'in_app',
        filters: { plan: 'paid' },
        expires_at: new Date(Date.now() + 86_400_000).toISOString(),
      })

      expect(response.status).toBe(201)
      expect(response.body).toMatchObject({
        status: 'draft',
        subject: 'Release 5',
        channel: 'in_app',
        filters: { plan: 'paid' },
        created_by_admin_id: admin.id,
        body_html: '<p>Hello <strong>there</strong> </p>',
        target_count_estimate: null,
        deliveries: { in_app: { total: 0 }, email: { total: 0 } },
      })
      expect(response.body.filters_description).toMatch(/paid/i)
      const [row] =
        await target.sql()`select filters_json from public.messages where id = ${response.body.id}`
      expect(row!.filters_json).toEqual({ plan: 'paid' })
    })

    it('rejects an unknown key, naming it', async () => {
      const response = await call('POST', '/compose', {
        subject: 's',
        body_markdown: 'b',
        channel: 'email',
        filters: {},
        priority: 'high',
      })
      expect(response.status).toBe(400)
      expect(response.body.error.code).toBe('invalid_request')
      expect(response.body.error.message).toContain('priority')
    })

    it('rejects invalid filters with invalid_filters, naming the key', async () => {
      const response = await call('POST', '/compose', {
        subject: 's',
        body_markdown: 'b',
        channel: 'email',
        filters: { plan: 'gold' },
      })
      expect(response.status).toBe(400)
      expect(response.body.error.code).toBe('invalid_filters')
      expect(JSON.stringify(response.body.error.details)).toContain('filters.plan')
    })

    it('rejects a missing channel, a long subject and a past expiry', async () => {
      const base = { subject: 's', body_markdown: 'b', channel: 'email', filters: {} }
      const missing = await call('POST', '/compose', { ...base, channel: undefined })
      const long = await call('POST', '/compose', { ...base, subject: 'x'.repeat(201) })
      const past = await call('POST', '/compose', { ...base, expires_at: '2020-01-01T00:00:00Z' })

      for (const response of [missing, long, past]) {
        expect(response.status).toBe(400)
        expect(response.body.error.code).toBe('invalid_request')
      }
      expect(missing.body.error.message).toContain('body.channel')
      expect(long.body.error.message).toContain('body.subject')
      expect(past.body.error.message).toContain('body.expires_at')
    })

    it('answers malformed JSON with 400, a body that is not JSON with 415, a huge one with 413', async () => {
      const malformed = await api.call(api.admin, 'POST', '/admin/messaging/compose', {
        token: adminToken,
        body: '{"subject": ',
      })
      expect(malformed.status).toBe(400)
      expect(malformed.body.error.code).toBe('invalid_json')

      const form = await api.call(api.admin, 'POST', '/admin/messaging/compose', {
        token: adminToken,
        body: 'subject=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      })
      expect(form.status).toBe(415)
      expect(form.body.error.code).toBe('unsupported_media_type')

      const huge = await call('POST', '/compose', {
        subject: 's',
        body_markdown: 'x'.repeat(300_000),
        channel: 'email',
        filters: {},
      })
      expect(huge.status).toBe(413)
      expect(huge.body.error.code).toBe('payload_too_large')
    })
  })

  describe('PATCH and DELETE /messaging/messages/{id}', () => {
    it('changes the fields of a draft that are sent', async () => {
      const draft = await compose()
      const response = await call('PATCH', `/messages/${draft.id}`, {
        subject: 'Release 5.1',
        filters: { plan: 'free' },
        expires_at: null,
      })
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({
        subject: 'Release 5.1',
        body_markdown: 'Hello **there**',
        filters: { plan: 'free' },
        expires_at: null,
      })
    })

    it('refuses an empty change, an unknown id, a bad id and a message that is not a draft', async () => {
      const draft = await compose()
      const queued = await createMessage(target.sql(), { status: 'queued' })

      const empty = await call('PATCH', `/messages/${draft.id}`, {})
      expect(empty.status).toBe(400)
      expect(empty.body.error.code).toBe('invalid_request')

      const unknown = await call('PATCH', '/messages/999999', { subject: 'x' })
      expect(unknown.status).toBe(404)
      expect(unknown.body.error.code).toBe('message_not_found')

      const badId = await call('PATCH', '/messages/abc', { subject: 'x' })
      expect(badId.status).toBe(400)
      expect(badId.body.error.message).toContain('path.id')

      const notDraft = await call('PATCH', `/messages/${queued.id}`, { subject: 'x' })
      expect(notDraft.status).toBe(409)
      expect(notDraft.body.error).toMatchObject({
        code: 'invalid_state',
        details: { status: 'queued' },
      })
    })

    it('deletes a draft, and refuses unknown ids and sent messages', async () => {
      const draft = await compose()
      const sent = await createMessage(target.sql(), { status: 'sent' })

      expect((await call('DELETE', `/messages/${draft.id}`)).status).toBe(204)
      expect((await call('GET', `/messages/${draft.id}`)).status).toBe(404)
      expect((await call('DELETE', `/messages/${draft.id}`)).status).toBe(404)

      const refused = await call('DELETE', `/messages/${sent.id}`)
      expect(refused.status).toBe(409)
      const [still] = await target.sql()`select 1 from public.messages where id = ${sent.id}`
      expect(still).toBeDefined()
    })
  })

  describe('POST /messaging/estimate', () => {
    it('counts recipients per channel, email without those who opted out', async () => {
      const response = await call('POST', '/estimate', { filters: { plan: 'paid' } })
      expect(response.status).toBe(200)
      expect(response.body.counts).toEqual({ in_app: 2, email: 1, distinct: 2 })
      expect(response.body.description).toMatch(/paid/i)
    })

    it('rejects invalid filters and a missing filters key', async () => {
      const invalid = await call('POST', '/estimate', { filters: { shoe_size: 42 } })
      expect(invalid.status).toBe(400)
      expect(invalid.body.error.code).toBe('invalid_filters')
      expect(JSON.stringify(invalid.body.error)).toContain('shoe_size')

      const missing = await call('POST', '/estimate', {})
      expect(missing.status).toBe(400)
    })
  })

  describe('GET /messaging/messages/{id}/preview', () => {
    it('renders the banner and the email safely', async () => {
      const draft = await compose({
        subject: 'Hi',
        body_markdown: '# Title\n\n[site](https://hivesync.app) [x](javascript:alert(1))',
      })
      const response = await call('GET', `/messages/${draft.id}/preview`)
      expect(response.status).toBe(200)
      expect(response.body.banner.subject).toBe('Hi')
      expect(response.body.banner.body_html).toContain('<h1>Title</h1>')
      expect(response.body.email.html).toBe(response.body.banner.body_html)
      expect(response.body.email.html).not.toContain('javascript')
      expect(response.body.email.text).toBe('Title\n\nsite (https://hivesync.app) x')
    })

    it('answers 404 for an unknown message', async () => {
      expect((await call('GET', '/messages/424242/preview')).status).toBe(404)
    })
  })

  describe('POST /messaging/send/{id}', () => {
    it('queues a draft with its target counts', async () => {
      const draft = await compose({ channel: 'both' })
      const response = await call('POST', `/send/${draft.id}`)
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({
        status: 'queued',
        target_count_estimate: 2,
        target_count_in_app: 2,
        target_count_email: 1,
      })
      expect(Date.parse(response.body.queued_at)).toBeGreaterThan(Date.now() - 60_000)

      const again = await call('POST', `/send/${draft.id}`)
      expect(again.status).toBe(409)
      expect(again.body.error.code).toBe('invalid_state')
    })

    it('counts only the chosen channel', async () => {
      const draft = await compose({ channel: 'email' })
      const response = await call('POST', `/send/${draft.id}`)
      expect(response.body).toMatchObject({
        target_count_estimate: 1,
        target_count_in_app: null,
        target_count_email: 1,
      })
    })

    it('refuses an empty subject or body, an audience of nobody, and an unknown id', async () => {
      const noSubject = await compose({ subject: '  ' })
      const noBody = await compose({ body_markdown: '' })
      const nobody = await compose({ channel: 'email', filters: { plan: 'trial' } })

      const subject = await call('POST', `/send/${noSubject.id}`)
      expect(subject.status).toBe(400)
      expect(subject.body.error).toMatchObject({
        code: 'invalid_content',
        details: { field: 'subject' },
      })

      const body = await call('POST', `/send/${noBody.id}`)
      expect(body.body.error).toMatchObject({
        code: 'invalid_content',
        details: { field: 'body_markdown' },
      })

      const empty = await call('POST', `/send/${nobody.id}`)
      expect(empty.status).toBe(400)
      expect(empty.body.error.code).toBe('empty_audience')

      const [row] = await target.sql()`select status from public.messages where id = ${nobody.id}`
      expect(row!.status).toBe('draft')

      expect((await call('POST', '/send/987654')).status).toBe(404)
    })
  })

  describe('GET /messaging/messages and /messaging/messages/{id}', () => {
    it('lists newest first, a page at a time, optionally by status', async () => {
      const sql = target.sql()
      await sql`delete from public.messages`
      const ids: number[] = []
      for (let index = 0; index < 3; index += 1)
        ids.push((await compose({ subject: `m${index}` })).id)
      await sql`update public.messages set status = 'failed', queued_at = now() where id = ${ids[0]!}`

      const first = await call('GET', '/messages?page=1&page_size=2')
      expect(first.status).toBe(200)
      expect(first.body).toMatchObject({ page: 1, page_size: 2, total: 3 })
      expect(first.body.items.map((item: { id: number }) => item.id)).toEqual([ids[2], ids[1]])

      const second = await call('GET', '/messages?page=2&page_size=2')
      expect(second.body.items.map((item: { id: number }) => item.id)).toEqual([ids[0]])

      const failed = await call('GET', '/messages?status=failed')
      expect(failed.body).toMatchObject({ total: 1, page: 1, page_size: 25 })
    })

    it('rejects a page size above 100 and an unknown status', async () => {
      expect((await call('GET', '/messages?page_size=101')).status).toBe(400)
      expect((await call('GET', '/messages?status=lost')).status).toBe(400)
      expect((await call('GET', '/messages?sort=asc')).status).toBe(400)
    })

    it('shows one message with its counters and error summary', async () => {
      const sql = target.sql()
      const message = await createMessage(sql, {
        created_by_admin_id: admin.id,
        status: 'sent',
        filters_json: { plan: 'paid' },
        error_summary: '1 failed: provider_rejected',
      })
      await createDelivery(sql, { message_id: message.id, user_id: paidUser.id, channel: 'in_app' })
      await createDelivery(sql, {
        message_id: message.id,
        user_id: paidUser.id,
        channel: 'email',
        status: 'failed',
      })
      await createDelivery(sql, { message_id: message.id, user_id: optedOut.id, channel: 'in_app' })

      const response = await call('GET', `/messages/${message.id}`)
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({
        filters: { plan: 'paid' },
        error_summary: '1 failed: provider_rejected',
        body_html: '<p>A <strong>body</strong>.</p>',
        deliveries: {
          in_app: { sent: 2, total: 2 },
          email: { failed: 1, queued: 0, total: 1 },
        },
      })
      expect((await call('GET', '/messages/777777')).status).toBe(404)
    })
  })

  describe('GET /messaging/messages/{id}/deliveries', () => {
    it('pages through deliveries of one status, with totals from the counters', async () => {
      const sql = target.sql()
      const message = await createMessage(sql, { status: 'sending', channel: 'email' })
      const users = [paidUser, optedOut, admin]
      for (const user of users) {
        await createDelivery(sql, {
          message_id: message.id,
          user_id: user.id,
          channel: 'email',
          status: 'queued',
        })
      }
      await sql`
        update public.message_deliveries set status = 'failed', error = 'provider_rejected'
        where message_id = ${message.id} and user_id = ${admin.id}
      `

      const queued = await call(
        'GET',
        `/messages/${message.id}/deliveries?status=queued&page_size=1`,
      )
      expect(queued.status).toBe(200)
      expect(queued.body).toMatchObject({ total: 2, page: 1, page_size: 1 })
      expect(queued.body.items).toHaveLength(1)
      expect(queued.body.items[0]).toMatchObject({ channel: 'email', status: 'queued' })

      const failed = await call('GET', `/messages/${message.id}/deliveries?status=failed`)
      expect(failed.body.items).toEqual([
        expect.objectContaining({
          user_id: admin.id,
          email: 'admin@example.com',
          error: 'provider_rejected',
        }),
      ])

      const all = await call('GET', `/messages/${message.id}/deliveries?channel=email`)
      expect(all.body.total).toBe(3)
    })

    it('answers 404 for an unknown message and 400 for an unknown status', async () => {
      expect((await call('GET', '/messages/555555/deliveries')).status).toBe(404)
      const message = await createMessage(target.sql(), { status: 'sent' })
      expect((await call('GET', `/messages/${message.id}/deliveries?status=lost`)).status).toBe(400)
    })
  })

  describe('POST /messaging/messages/{id}/cancel', () => {
    it('cancels a sending message and its queued deliveries, leaving claimed batches alone', async () => {
      const sql = target.sql()
      const message = await createMessage(sql, { status: 'sending', channel: 'email' })
      await createDelivery(sql, { message_id: message.id, user_id: paidUser.id, channel: 'email' })
      await sql`
        insert into public.message_deliveries
          (message_id, user_id, channel, status, batch_id, lease_expires_at)
        values (${message.id}, ${admin.id}, 'email', 'sending', gen_random_uuid(), now() + interval '10 minutes')
      `

      const response = await call('POST', `/messages/${message.id}/cancel`)
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({
        status: 'cancelled',
        deliveries: { email: { cancelled: 1, sending: 1, queued: 0 } },
      })
      expect(response.body.completed_at).not.toBeNull()
    })

    it('refuses a draft, a finished message and an unknown id', async () => {
      const draft = await compose()
      const sent = await createMessage(target.sql(), { status: 'sent' })
      expect((await call('POST', `/messages/${draft.id}/cancel`)).status).toBe(409)
      expect((await call('POST', `/messages/${sent.id}/cancel`)).status).toBe(409)
      expect((await call('POST', '/messages/313131/cancel')).status).toBe(404)
    })
  })

  describe('POST /messaging/messages/{id}/retract', () => {
    it('retracts a sent banner once, keeping the first instant, and it stops being active', async () => {
      const message = await createMessage(target.sql(), { status: 'sent', channel: 'in_app' })
      await createDelivery(target.sql(), {
        message_id: message.id,
        user_id: paidUser.id,
        channel: 'in_app',
      })
      const activeIds = async () => {
        const response = await api.call(api.user, 'GET', '/user/messages/active', {
          token: await tokenFor(paidUser),
        })
        return response.body.items.map((item: { id: number }) => item.id)
      }
      expect(await activeIds()).toContain(message.id)

      const first = await call('POST', `/messages/${message.id}/retract`)
      expect(first.status).toBe(200)
      expect(first.body.retracted_at).not.toBeNull()
      expect(await activeIds()).not.toContain(message.id)

      const second = await call('POST', `/messages/${message.id}/retract`)
      expect(second.body.retracted_at).toBe(first.body.retracted_at)
    })

    it('refuses an email-only message, a draft and an unknown id', async () => {
      const email = await createMessage(target.sql(), { status: 'sent', channel: 'email' })
      const draft = await compose()
      const emailOnly = await call('POST', `/messages/${email.id}/retract`)
      expect(emailOnly.status).toBe(409)
      expect(emailOnly.body.error.message).toContain('email only')
      expect((await call('POST', `/messages/${draft.id}/retract`)).status).toBe(409)
      expect((await call('POST', '/messages/212121/retract')).status).toBe(404)
    })
  })

  describe('the kill switch', () => {
    it('reads it, and toggles it recording who did', async () => {
      const before = await call('GET', '/kill-switch')
      expect(before.status).toBe(200)
      expect(before.body.email_disabled).toBe(false)

      const off = await call('PUT', '/kill-switch', { email_disabled: true })
      expect(off.status).toBe(200)
      expect(off.body).toMatchObject({ email_disabled: true, changed_by: admin.id })
      expect(off.body.changed_at).not.toBeNull()

      const on = await call('PUT', '/kill-switch', { email_disabled: false })
      expect(on.body.email_disabled).toBe(false)
    })

    it('rejects a body without a boolean', async () => {
      const response = await call('PUT', '/kill-switch', { email_disabled: 'yes' })
      expect(response.status).toBe(400)
      expect(response.body.error.message).toContain('body.email_disabled')
    })
  })
}
