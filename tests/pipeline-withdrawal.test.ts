import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, expect, it } from 'vitest'

import { createMockProvider } from '../functions/_shared/email/mock-provider.ts'
import type { EmailProvider } from '../functions/_shared/email/email-provider.ts'
import { runDrain } from '../functions/_shared/pipeline/run-drain.ts'
import { useTestDatabase } from './support/database.ts'
import { asUser, createAdmin } from './support/fixtures.ts'
import {
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

function drain(clock: TestClock, provider: EmailProvider, batchSize = 2) {
  return runDrain({
    sql: db.sql,
    provider,
    emailLog: memoryEmailLog(),
    settings: drainSettings({ batchSize }),
    env: {},
    now: clock.now,
  })
}

function outbox(): EmailProvider {
  return createMockProvider({ outboxDir: mkdtempSync(join(tmpdir(), 'hivesync-outbox-')) })
}

const claim = (clock: TestClock, size = 2) =>
  db.sql<{ c: { batch_id: string | null; deliveries: { id: number }[] } }[]>`
    select public.claim_email_batch(${size}, 600, null, null, 5, ${clock.now()}) as c
  `.then(([row]) => row!.c)

it('retracting a message still sending withdraws its emails not yet claimed', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 5, 'retract')
  const admin = await createAdmin(db.sql)
  const id = await queueMessage(db.sql, clock.now(), { channel: 'both' })
  const provider = outbox()
  let calls = 0
  const retracting: EmailProvider = {
    ...provider,
    async sendBatch(batch) {
      calls += 1
      const outcome = await provider.sendBatch(batch)
      if (calls === 1) {
        await asUser(db.sql, admin.id, (tx) => tx`select public.retract_message(${id})`)
      }
      return outcome
    },
  }

  const summary = await drain(clock, retracting)

  // Six recipients (the admin is one): the batch in flight when the banners were retracted
  // finishes, the other four emails are never sent.
  expect(calls).toBe(1)
  expect(summary.sent).toBe(2)
  expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: 2, cancelled: 4 })
  const message = await messageRow(db.sql, id)
  expect(message).toMatchObject({ status: 'sent', email_sent: 2, email_cancelled: 4 })
  const [reason] = await db.sql<{ error: string }[]>`
    select distinct error from public.message_deliveries where status = 'cancelled'
  `
  expect(reason!.error).toMatch(/^cancelled: the message was retracted/)
})

it('cancels instead of sending a row that went back to the queue after its message was cancelled', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 3, 'late')
  const admin = await createAdmin(db.sql)
  const id = await queueMessage(db.sql, clock.now())
  await db.sql`select public.fan_out_next_message(${clock.now()})`
  await asUser(db.sql, admin.id, (tx) => tx`select public.cancel_message(${id})`)
  // As if a claim had held this row while the message was cancelled, then rolled back.
  await db.sql`
    update public.message_deliveries set status = 'queued', error = null
    where id = (select min(id) from public.message_deliveries where message_id = ${id})
  `
  expect((await messageRow(db.sql, id)).email_queued).toBe(1)

  const swept = await claim(clock)
  const provider = outbox()
  const summary = await drain(clock, provider)

  expect(swept.batch_id).toBeNull()
  expect(swept.deliveries).toEqual([])
  expect(summary.sent).toBe(0)
  expect(await emailStatusCounts(db.sql, id)).toEqual({ cancelled: 4 })
  expect(await messageRow(db.sql, id)).toMatchObject({ status: 'cancelled', email_queued: 0 })
})

it('removes the deliveries of a deleted user, and skips one whose user vanished during fan-out', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 3, 'vanish')
  const id = await queueMessage(db.sql, clock.now())
  await db.sql`select public.fan_out_next_message(${clock.now()})`
  const [leaving] = await db.sql<{ user_id: string }[]>`
    select user_id from public.message_deliveries where message_id = ${id} order by id limit 1
  `

  await db.sql`delete from auth.users where id = ${leaving!.user_id}`
  const [left] = await db.sql<{ n: number }[]>`
    select count(*)::integer as n from public.message_deliveries
    where user_id = ${leaving!.user_id}
  `
  expect(left!.n).toBe(0)
  expect((await messageRow(db.sql, id)).email_queued).toBe(2)

  // A fan-out that selected a user just before their row was removed commits a delivery with no
  // user behind it.
  const orphan = '00000000-0000-4000-8000-00000000dead'
  await db.sql`
    insert into public.message_deliveries (message_id, user_id, channel, status)
    values (${id}, ${orphan}, 'email', 'queued')
  `
  const summary = await drain(clock, outbox(), 10)

  expect(summary).toMatchObject({ sent: 2, skipped: 1 })
  const [skipped] = await db.sql<{ error: string }[]>`
    select error from public.message_deliveries where user_id = ${orphan}
  `
  expect(skipped!.error).toMatch(/^deleted:/)
  expect((await messageRow(db.sql, id)).status).toBe('sent')
})

it('keeps a ledger row per claim for the rate windows, and retention clears those past a day', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 5, 'ledger')
  await queueMessage(db.sql, clock.now())
  await db.sql`select public.fan_out_next_message(${clock.now()})`
  const started = clock.now()

  await claim(clock, 3)
  clock.advance(30_000)
  await claim(clock, 3)

  const ledger = await db.sql<{ emails: number }[]>`
    select emails from public.email_reservations where reserved_at >= ${started} order by id
  `
  expect(ledger.map((row) => row.emails)).toEqual([3, 2])
  const [windows] = await db.sql<{ minute: number; capped: number; frees: Date }[]>`
    select public.count_email_reservations(interval '1 minute', 100, ${clock.now()}) as minute,
           public.count_email_reservations(interval '1 minute', 4, ${clock.now()}) as capped,
           public.email_window_frees_at(interval '1 minute', 4, ${clock.now()}) as frees
  `
  // Five reserved, a limit of 4: the window has room again once the first claim's three leave.
  expect(windows).toEqual({ minute: 5, capped: 4, frees: new Date(started.getTime() + 60_000) })

  clock.advance(23 * 3600_000)
  await db.sql`select public.purge_expired_deliveries(90, 100, ${clock.now()})`
  const [kept] = await db.sql<{ n: number }[]>`
    select count(*)::integer as n from public.email_reservations where reserved_at >= ${started}
  `
  expect(kept!.n).toBe(2)

  clock.advance(3600_000 + 60_000)
  await db.sql`select public.purge_expired_deliveries(90, 100, ${clock.now()})`
  const [cleared] = await db.sql<{ n: number }[]>`
    select count(*)::integer as n from public.email_reservations where reserved_at >= ${started}
  `
  expect(cleared!.n).toBe(0)
})
