// The send checks and the status payload through the admin function's HTTP routes.

import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'

import { createApi, tokenFor, type Api } from './support/api.ts'
import { useTestDatabase } from './support/database.ts'
import { createAdmin, type UserRow } from './support/fixtures.ts'
import { createRecipients, resetPipelineData } from './support/pipeline.ts'

const db = useTestDatabase()
let api: Api
let admin: UserRow
let token: string
const variables = ['HIVESYNC_MAX_MESSAGES_PER_DAY', 'HIVESYNC_EMAIL_DISABLED']

beforeAll(() => {
  api = createApi(db.url)
})
afterAll(() => api.close())

beforeEach(async () => {
  await resetPipelineData(db.sql)
  admin = await createAdmin(db.sql, { email: 'admin@example.com' })
  token = await tokenFor(admin)
  await createRecipients(db.sql, 2, 'routes')
})
afterEach(() => {
  for (const name of variables) delete process.env[name]
})

async function composeAndSend(channel: 'in_app' | 'email' | 'both' = 'both') {
  const draft = await api.call(api.admin, 'POST', '/admin/messaging/compose', {
    token,
    body: { subject: 'Routes', body_markdown: 'Hello', channel, filters: {} },
  })
  expect(draft.status).toBe(201)
  return api.call(api.admin, 'POST', `/admin/messaging/send/${draft.body.id}`, { token })
}

it('POST /messaging/send answers 429 daily_cap_reached for the message past the daily cap', async () => {
  process.env.HIVESYNC_MAX_MESSAGES_PER_DAY = '2'
  expect((await composeAndSend()).status).toBe(200)
  expect((await composeAndSend()).status).toBe(200)

  const refused = await composeAndSend()

  expect(refused.status).toBe(429)
  expect(refused.body.error).toMatchObject({ code: 'daily_cap_reached', details: { limit: 2 } })
})

it('POST /messaging/send answers 503 email_disabled for email while the kill switch is on', async () => {
  process.env.HIVESYNC_EMAIL_DISABLED = 'true'
  const refused = await composeAndSend('email')
  expect(refused.status).toBe(503)
  expect(refused.body.error.code).toBe('email_disabled')

  expect((await composeAndSend('in_app')).status).toBe(200)
})

it('GET /messaging/status reports the kill switch and the budgets left', async () => {
  process.env.HIVESYNC_MAX_MESSAGES_PER_DAY = '4'
  await composeAndSend()

  const response = await api.call(api.admin, 'GET', '/admin/messaging/status', { token })

  expect(response.status).toBe(200)
  expect(response.body).toMatchObject({
    email_disabled: false,
    kill_switch: { environment: { email_disabled: false }, database: { email_disabled: false } },
    budgets: {
      emails_per_minute: { limit: 100, used: 0, left: 100 },
      emails_per_hour: { limit: 1000, used: 0, left: 1000 },
      messages_per_day: { limit: 4, used: 1, left: 3 },
      next_email_at: null,
    },
    queue: { messages_waiting: 1, messages_sending: 0, emails_queued: 0 },
  })
})
