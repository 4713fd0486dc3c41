import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'

import { createMockProvider } from '../functions/_shared/email/mock-provider.ts'
import type { EmailProvider } from '../functions/_shared/email/email-provider.ts'
import { runDrain } from '../functions/_shared/pipeline/run-drain.ts'
import { useTestDatabase } from './support/database.ts'
import { asUser, createAdmin, createUser } from './support/fixtures.ts'
import {
  busiestWindow,
  createRecipients,
  drainSettings,
  emailStatusCounts,
  memoryEmailLog,
  messageRow,
  queueMessage,
  resetPipelineData,
  testClock,
  type TestClock,
} from './support/pipeline.ts'

const db = useTestDatabase()

beforeEach(() => resetPipelineData(db.sql))

function mockProvider(): EmailProvider {
  return createMockProvider({ outboxDir: mkdtempSync(join(tmpdir(), 'hivesync-outbox-')) })
}

function drain(clock: TestClock, provider: EmailProvider, settings = drainSettings()) {
  return runDrain({
    sql: db.sql,
    provider,
    emailLog: memoryEmailLog(),
    settings,
    env: {},
    now: clock.now,
  })
}

describe('fan-out', () => {
  it('creates in-app rows as sent and email rows as queued, and a re-run adds nothing', async () => {
    const clock = testClock()
    await createRecipients(db.sql, 5, 'fan')
    await createUser(db.sql, { email: 'quiet@example.com', email_opt_out: true })
    const id = await queueMessage(db.sql, clock.now(), { channel: 'both' })

    const [fanned] = await db.sql`select public.fan_out_next_message(${clock.now()}) as r`
    expect(fanned!.r).toMatchObject({ message_id: id, status: 'sending', in_app: 6, email: 5 })

    const message = await messageRow(db.sql, id)
    expect(message).toMatchObject({ status: 'sending', in_app_sent: 6, email_queued: 5 })
    const [unsent] = await db.sql`
      select count(*)::integer as n from public.message_deliveries
      where channel = 'in_app' and (status <> 'sent' or sent_at is null)
    `
    expect(unsent!.n).toBe(0)

    // Put it back to queued as if the first run had died after its commit: nothing is doubled.
    await db.sql`update public.messages set status = 'queued' where id = ${id}`
    const [again] = await db.sql`select public.fan_out_next_message(${clock.now()}) as r`
    expect(again!.r).toMatchObject({ inserted: 0 })
    const [total] = await db.sql`select count(*)::integer as n from public.message_deliveries`
    expect(total!.n).toBe(11)
  })

  it('fans a large audience out in ranges, each its own transaction, and a repeated range adds nothing', async () => {
    const clock = testClock()
    await createRecipients(db.sql, 40, 'ranged')
    const id = await queueMessage(db.sql, clock.now(), { channel: 'both' })
    const fanOut = async () => {
      const [row] = await db.sql<{ r: Record<string, unknown> }[]>`
        select public.fan_out_next_message(${clock.now()}, 10) as r
      `
      return row!.r
    }

    const steps = [await fanOut(), await fanOut(), await fanOut()]
    expect(steps.map((step) => [step.chunk, step.chunks, step.status])).toEqual([
      [1, 4, 'queued'],
      [2, 4, 'queued'],
      [3, 4, 'queued'],
    ])
    // As if the run that fanned the third range out had died after its commit but was counted
    // once more: the range is inserted again with nothing new.
    await db.sql`update public.messages set fan_out_chunks_done = 2 where id = ${id}`
    expect(await fanOut()).toMatchObject({ chunk: 3, inserted: 0, status: 'queued' })
    expect(await fanOut()).toMatchObject({ chunk: 4, status: 'sending' })

    const inserted = steps.reduce((sum, step) => sum + Number(step.inserted), 0)
    expect(inserted).toBeGreaterThan(0)
    const [rows] = await db.sql<{ n: number; users: number }[]>`
      select count(*)::integer as n, count(distinct user_id)::integer as users
      from public.message_deliveries where message_id = ${id}
    `
    expect(rows).toEqual({ n: 80, users: 40 })
    expect(await messageRow(db.sql, id)).toMatchObject({ in_app_sent: 40, email_queued: 40 })
  })

  it('sends an in-app-only message as soon as it is fanned out', async () => {
    const clock = testClock()
    await createRecipients(db.sql, 3, 'banner')
    const id = await queueMessage(db.sql, clock.now(), { channel: 'in_app' })

    const summary = await drain(clock, mockProvider())

    expect(summary).toMatchObject({ fanned_out: 1, claimed: 0, stopped: 'idle' })
    expect(await messageRow(db.sql, id)).toMatchObject({ status: 'sent', in_app_sent: 3 })
  })

  it('fails a message whose audience cannot be resolved', async () => {
    const clock = testClock()
    await createRecipients(db.sql, 2, 'broken')
    const id = await queueMessage(db.sql, clock.now())
    await db.sql`
      update public.messages set filters_json = '{"no_such_filter": true}' where id = ${id}
    `

    const summary = await drain(clock, mockProvider())

    expect(summary.messages_failed).toBe(1)
    const message = await messageRow(db.sql, id)
    expect(message.status).toBe('failed')
    expect(message.error_summary).toMatch(/^audience_unresolved: /)
  })

  it('goes first in, first out by queued_at', async () => {
    const clock = testClock()
    await createRecipients(db.sql, 3, 'fifo')
    const later = await queueMessage(db.sql, new Date(clock.now().getTime() + 1000))
    const earlier = await queueMessage(db.sql, clock.now())
    clock.advance(2000)

    await drain(
      clock,
      mockProvider(),
      drainSettings({ batchSize: 3, limits: { maxPerMinute: 3, maxPerHour: 100 } }),
    )

    expect(await emailStatusCounts(db.sql, earlier)).toEqual({ sent: 3 })
    expect(await emailStatusCounts(db.sql, later)).toEqual({ queued: 3 })
  })
})

describe('a message through the drain', () => {
  it('goes queued → sending → sent, each email sent with sent_at and a provider id', async () => {
    const clock = testClock()
    await createRecipients(db.sql, 7, 'whole')
    const id = await queueMessage(db.sql, clock.now(), { channel: 'both' })
    expect((await messageRow(db.sql, id)).status).toBe('queued')

    const summary = await drain(clock, mockProvider(), drainSettings({ batchSize: 3 }))

    expect(summary).toMatchObject({ fanned_out: 1, batches: 3, claimed: 7, sent: 7, failed: 0 })
    const message = await messageRow(db.sql, id)
    expect(message).toMatchObject({ status: 'sent', email_sent: 7, in_app_sent: 7 })
    expect(message.completed_at).toEqual(clock.now())
    const [incomplete] = await db.sql`
      select count(*)::integer as n from public.message_deliveries
      where channel = 'email' and (sent_at is null or provider_message_id is null)
    `
    expect(incomplete!.n).toBe(0)
  })

  it('re-checks consent at claim and skips, with the reason, whoever withdrew it since queueing', async () => {
    const clock = testClock()
    const opted = await createUser(db.sql, { email: 'opted@example.com' })
    const bounced = await createUser(db.sql, { email: 'bounced@example.com' })
    const gone = await createUser(db.sql, { email: 'gone@example.com' })
    await createUser(db.sql, { email: 'stays@example.com' })
    const id = await queueMessage(db.sql, clock.now())
    await db.sql`select public.fan_out_next_message(${clock.now()})`

    await db.sql`update public.users set email_opt_out = true where id = ${opted.id}`
    await db.sql`update public.users set email_bounced = true where id = ${bounced.id}`
    await db.sql`update public.users set deleted_at = now() where id = ${gone.id}`
    const summary = await drain(clock, mockProvider())

    expect(summary).toMatchObject({ sent: 1, skipped: 3 })
    const skipped = await db.sql<{ user_id: string; error: string }[]>`
      select user_id, error from public.message_deliveries where status = 'skipped'
    `
    const reasons = Object.fromEntries(skipped.map((row) => [row.user_id, row.error.split(':')[0]]))
    expect(reasons).toEqual({
      [opted.id]: 'opted_out',
      [bounced.id]: 'bounced',
      [gone.id]: 'deleted',
    })
    const message = await messageRow(db.sql, id)
    expect(message.status).toBe('sent')
    expect(message.error_summary).toContain('1 email skipped (opted_out)')
    expect(message.error_summary).toContain('1 email skipped (bounced)')
  })

  it('stops a cancelled message before its next batch', async () => {
    const clock = testClock()
    await createRecipients(db.sql, 6, 'cancel')
    const admin = await createAdmin(db.sql)
    const id = await queueMessage(db.sql, clock.now())
    const outbox = mockProvider()
    let calls = 0
    const cancelling: EmailProvider = {
      ...outbox,
      name: outbox.name,
      maxBatchSize: outbox.maxBatchSize,
      async sendBatch(batch) {
        calls += 1
        const outcome = await outbox.sendBatch(batch)
        if (calls === 1) {
          await asUser(db.sql, admin.id, (tx) => tx`select public.cancel_message(${id})`)
        }
        return outcome
      },
    }

    const summary = await drain(clock, cancelling, drainSettings({ batchSize: 2 }))

    expect(calls).toBe(1)
    expect(summary.sent).toBe(2)
    // The admin is a recipient too (filters match everyone): 7 emails, 2 sent before the cancel.
    expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: 2, cancelled: 5 })
    expect((await messageRow(db.sql, id)).status).toBe('cancelled')
  })
})

describe('rate limits', () => {
  it('never lets a rolling window hold more than 5 per minute or 12 per hour, and sends every email', async () => {
    const clock = testClock()
    await createRecipients(db.sql, 30, 'paced')
    const id = await queueMessage(db.sql, clock.now())
    const provider = mockProvider()
    const settings = drainSettings({ batchSize: 4, limits: { maxPerMinute: 5, maxPerHour: 12 } })

    for (let run = 0; run < 200; run++) {
      const summary = await drain(clock, provider, settings)
      if ((await messageRow(db.sql, id)).status === 'sent') break
      // Next run either when the budget frees a slot, or a little later, as a timer would.
      if (summary.next_batch_at) clock.set(summary.next_batch_at)
      clock.advance(run % 3 === 0 ? 7_000 : 0)
    }

    expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: 30 })
    expect(await busiestWindow(db.sql, 60)).toBe(5)
    expect(await busiestWindow(db.sql, 3600)).toBe(12)
  })

  it('reports the budget deferral and when the next batch may go', async () => {
    const clock = testClock()
    await createRecipients(db.sql, 8, 'deferred')
    await queueMessage(db.sql, clock.now())
    const settings = drainSettings({ limits: { maxPerMinute: 5, maxPerHour: 12 } })

    const summary = await drain(clock, mockProvider(), settings)

    expect(summary).toMatchObject({ sent: 5, stopped: 'budget', deferred_by_budget: 3 })
    expect(summary.next_batch_at).toBe(new Date(clock.now().getTime() + 60_000).toISOString())
  })
})

it('writes one .eml file per email sent through the mock provider', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 4, 'eml')
  await queueMessage(db.sql, clock.now())
  const outbox = mkdtempSync(join(tmpdir(), 'hivesync-outbox-'))

  await drain(clock, createMockProvider({ outboxDir: outbox }))

  expect(readdirSync(outbox).filter((file) => file.endsWith('.eml'))).toHaveLength(4)
})

it('still claims a queued row left behind the claim cursor, once nothing after it is left', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 4, 'cursor')
  const id = await queueMessage(db.sql, clock.now())
  await db.sql`select public.fan_out_next_message(${clock.now()})`
  const claim = () =>
    db.sql<{ c: { deliveries: { id: number }[] } }[]>`
      select public.claim_email_batch(2, 600, null, null, 5, ${clock.now()}) as c
    `
  const [first] = await claim()
  // As if the transaction that held this row when a claim passed it had rolled back.
  const behind = first!.c.deliveries[0]!.id
  await db.sql`
    update public.message_deliveries
    set status = 'queued', batch_id = null, idempotency_key = null, lease_expires_at = null,
        reserved_at = null, attempts = 0
    where id = ${behind}
  `

  const [second] = await claim()
  const [third] = await claim()

  expect(second!.c.deliveries.map((d) => d.id)).not.toContain(behind)
  expect(third!.c.deliveries.map((d) => d.id)).toEqual([behind])
  expect(await emailStatusCounts(db.sql, id)).toEqual({ sending: 4 })
})
