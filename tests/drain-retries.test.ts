import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest'

import { createEmailLog } from '../functions/_shared/email/email-log.ts'
import { createResendProvider } from '../functions/_shared/email/resend-batch.ts'
import { runDrain } from '../functions/_shared/pipeline/run-drain.ts'
import { useTestDatabase } from './support/database.ts'
import { startFakeResend, type FakeResend } from './support/fake-resend.ts'
import {
  createRecipients,
  drainSettings,
  emailStatusCounts,
  messageRow,
  queueMessage,
  resetPipelineData,
  testClock,
  type TestClock,
} from './support/pipeline.ts'

const db = useTestDatabase()
let resend: FakeResend
let logFile: string

beforeAll(async () => {
  resend = await startFakeResend({
    rejectAddress: (address) =>
      address.startsWith('refused') ? 'The address is on the suppression list.' : undefined,
  })
})
afterAll(() => resend.close())

beforeEach(async () => {
  await resetPipelineData(db.sql)
  resend.emails.length = 0
  resend.calls.length = 0
  logFile = join(mkdtempSync(join(tmpdir(), 'hivesync-log-')), 'logs', 'email.log')
})

function drain(clock: TestClock, options: { apiKey?: string } = {}) {
  return runDrain({
    sql: db.sql,
    provider: createResendProvider({
      apiKey: options.apiKey ?? resend.apiKey,
      baseUrl: resend.url,
      timeoutMs: 400,
    }),
    emailLog: createEmailLog({ file: logFile }),
    settings: drainSettings(),
    env: {},
    now: clock.now,
  })
}

function loggedCalls(): Record<string, unknown>[] {
  return readFileSync(logFile, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

it('retries a batch after a 500 with doubling backoff, with the same key and payload', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 3, 'flaky')
  const id = await queueMessage(db.sql, clock.now())
  resend.failNext({ status: 500 }, { status: 503 })

  const first = await drain(clock)
  expect(first).toMatchObject({ retries_scheduled: 1, sent: 0, stopped: 'idle' })
  expect(first.next_batch_at).toBe(new Date(clock.now().getTime() + 30_000).toISOString())

  clock.advance(29_000)
  expect(await drain(clock)).toMatchObject({ batches: 0 })

  clock.advance(1_000)
  const second = await drain(clock)
  expect(second.next_batch_at).toBe(new Date(clock.now().getTime() + 60_000).toISOString())

  clock.advance(60_000)
  expect(await drain(clock)).toMatchObject({ sent: 3 })
  expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: 3 })
  expect(new Set(resend.calls.map((call) => call.idempotencyKey)).size).toBe(1)
  expect(resend.calls.map((call) => call.status)).toEqual([500, 503, 200])
  expect(resend.emails).toHaveLength(3)
  expect(loggedCalls().map((entry) => [entry.outcome, entry.cause ?? null, entry.attempt])).toEqual(
    [
      ['transient', 'provider_error', 1],
      ['transient', 'provider_error', 2],
      ['delivered', null, 3],
    ],
  )
})

it('honours Retry-After on a 429, up to an hour', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 2, 'limited')
  await queueMessage(db.sql, clock.now())
  resend.failNext(
    { status: 429, headers: { 'retry-after': '120' } },
    { status: 429, headers: { 'retry-after': '7200' } },
  )

  const first = await drain(clock)
  expect(first.next_batch_at).toBe(new Date(clock.now().getTime() + 120_000).toISOString())
  clock.advance(120_000)
  const second = await drain(clock)
  expect(second.next_batch_at).toBe(new Date(clock.now().getTime() + 3_600_000).toISOString())
  clock.advance(3_600_000)

  expect(await drain(clock)).toMatchObject({ sent: 2 })
  expect(loggedCalls()[0]).toMatchObject({ cause: 'rate_limited', retry_after_seconds: 120 })
})

it('retries a timeout whose batch the provider did send, and nobody gets a second email', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 4, 'slow')
  const id = await queueMessage(db.sql, clock.now())
  resend.failNext({ kind: 'timeout', when: 'after' })

  expect(await drain(clock)).toMatchObject({ retries_scheduled: 1 })
  clock.advance(30_000)
  expect(await drain(clock)).toMatchObject({ sent: 4 })

  expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: 4 })
  expect(resend.emails).toHaveLength(4)
  expect(resend.calls.map((call) => call.replay)).toEqual([false, true])
  expect(loggedCalls()[0]).toMatchObject({ outcome: 'transient', cause: 'timeout' })
})

it('retries a connection reset', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 2, 'reset')
  const id = await queueMessage(db.sql, clock.now())
  resend.failNext({ kind: 'reset' })

  await drain(clock)
  clock.advance(30_000)
  await drain(clock)

  expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: 2 })
  expect(loggedCalls()[0]).toMatchObject({ outcome: 'transient', cause: 'connection_reset' })
})

it('fails a batch the provider rejects for good at once, and says why in error_summary', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 3, 'rejected')
  const id = await queueMessage(db.sql, clock.now())
  resend.failNext({ status: 422 })

  const summary = await drain(clock)

  expect(summary).toMatchObject({ failed: 3, retries_scheduled: 0 })
  expect(await emailStatusCounts(db.sql, id)).toEqual({ failed: 3 })
  const message = await messageRow(db.sql, id)
  expect(message.status).toBe('sent')
  expect(message.error_summary).toBe('3 email failed (rejected)')
  expect(loggedCalls()[0]).toMatchObject({ outcome: 'rejected', count: 3 })
})

it('fails only the emails the provider refuses inside an accepted batch', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 2, 'fine')
  await createRecipients(db.sql, 1, 'refused')
  const id = await queueMessage(db.sql, clock.now())

  await drain(clock)

  expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: 2, failed: 1 })
  const [failed] = await db.sql`select error from public.message_deliveries where status = 'failed'`
  expect(failed!.error).toBe('rejected: The address is on the suppression list.')
  expect(loggedCalls()[0]).toMatchObject({ outcome: 'delivered', sent: 2, failed: 1 })
})

it('gives up after five attempts and fails the batch with its last cause', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 2, 'doomed')
  const id = await queueMessage(db.sql, clock.now())
  resend.failNext(...Array.from({ length: 5 }, () => ({ status: 502 })))

  for (let attempt = 0; attempt < 6; attempt++) {
    const summary = await drain(clock)
    if (summary.next_batch_at) clock.set(summary.next_batch_at)
  }

  expect(resend.calls).toHaveLength(5)
  expect(await emailStatusCounts(db.sql, id)).toEqual({ failed: 2 })
  const message = await messageRow(db.sql, id)
  expect(message.status).toBe('sent')
  expect(message.error_summary).toBe('2 email failed (provider_error)')
  const [row] =
    await db.sql`select error from public.message_deliveries where status = 'failed' limit 1`
  expect(row!.error).toMatch(/^provider_error: HTTP 502.*\(gave up after 5 attempts\)$/)
})

it('counts in its summary the rows of an expired batch it fails for having no attempts left', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 2, 'stranded')
  const id = await queueMessage(db.sql, clock.now())
  await db.sql`select public.fan_out_next_message(${clock.now()})`
  // Its drainer stopped during the last attempt, before recording what the provider answered.
  await db.sql`select public.claim_email_batch(10, 600, null, null, 5, ${clock.now()})`
  await db.sql`update public.message_deliveries set attempts = 5 where status = 'sending'`
  clock.advance(601_000)

  const summary = await drain(clock)

  expect(summary).toMatchObject({ failed: 2, sent: 0 })
  expect(resend.calls).toHaveLength(0)
  expect(await emailStatusCounts(db.sql, id)).toEqual({ failed: 2 })
  expect((await messageRow(db.sql, id)).error_summary).toBe('2 email failed (outcome_unknown)')
})

it('fails the message as a whole when the provider rejects the credentials', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 3, 'locked')
  const id = await queueMessage(db.sql, clock.now(), { channel: 'both' })

  const summary = await drain(clock, { apiKey: 're_wrong' })

  expect(summary).toMatchObject({ stopped: 'credentials_rejected', messages_failed: 1 })
  const message = await messageRow(db.sql, id)
  expect(message.status).toBe('failed')
  expect(message.error_summary).toBe(
    'job failed: credentials_rejected; 3 email failed (credentials_rejected)',
  )
  expect(loggedCalls()[0]).toMatchObject({ outcome: 'unauthorized', cause: 'credentials_rejected' })
})
