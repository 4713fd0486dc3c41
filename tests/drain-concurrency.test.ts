import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest'

import { connect, type Sql } from '../functions/_shared/db.ts'
import { createResendProvider } from '../functions/_shared/email/resend-batch.ts'
import { runDrain } from '../functions/_shared/pipeline/run-drain.ts'
import { useTestDatabase } from './support/database.ts'
import { asUser, createAdmin } from './support/fixtures.ts'
import { startFakeResend, type FakeResend } from './support/fake-resend.ts'
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
} from './support/pipeline.ts'

const db = useTestDatabase()
let resend: FakeResend
const pools: Sql[] = []

beforeAll(async () => {
  resend = await startFakeResend()
})
beforeEach(() => resetPipelineData(db.sql))
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()))
  await resend.close()
})

it(
  'four drainers over 5,000 emails: every address gets exactly one email and no limit is exceeded',
  { timeout: 120_000 },
  async () => {
    const clock = testClock()
    const recipients = 5_000
    await createRecipients(db.sql, recipients, 'crowd')
    const id = await queueMessage(db.sql, clock.now())
    const limits = { maxPerMinute: 900, maxPerHour: 3_000 }
    // Lost answers after the provider sent: the batches are retried with the same key and payload.
    resend.failNext({ kind: 'reset', when: 'after' }, { kind: 'timeout', when: 'after' })

    const drainer = async () => {
      const sql = connect(db.url, { max: 2 })
      pools.push(sql)
      const provider = createResendProvider({
        apiKey: resend.apiKey,
        baseUrl: resend.url,
        timeoutMs: 500,
      })
      for (let run = 0; run < 500; run++) {
        const summary = await runDrain({
          sql,
          provider,
          emailLog: memoryEmailLog(),
          // The shared clock jumps to the next free budget slot, an hour or more in all, while
          // other drainers still hold batches; leases longer than a jump keep those batches from
          // expiring under them, as real leases outlast a drain's few seconds.
          settings: drainSettings({ limits, leaseSeconds: 86_400 }),
          env: {},
          now: clock.now,
        })
        if ((await messageRow(sql, id)).status === 'sent') return
        // Time jumps only to the next free budget slot. After any other stop, next_batch_at may be
        // the lease of a batch another drainer is still sending, which real time never reaches
        // while that drainer works; jumping there would re-claim it under them.
        if (summary.stopped === 'budget' && summary.next_batch_at) clock.set(summary.next_batch_at)
        else clock.advance(1_000)
      }
    }
    await Promise.all([drainer(), drainer(), drainer(), drainer()])

    expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: recipients })
    const perAddress = new Map<string, number>()
    for (const email of resend.emails) perAddress.set(email.to, (perAddress.get(email.to) ?? 0) + 1)
    expect(perAddress.size).toBe(recipients)
    expect(Math.max(...perAddress.values())).toBe(1)
    expect(resend.calls.filter((call) => call.replay)).toHaveLength(2)

    expect(await busiestWindow(db.sql, 60)).toBeLessThanOrEqual(limits.maxPerMinute)
    expect(await busiestWindow(db.sql, 3600)).toBeLessThanOrEqual(limits.maxPerHour)
    const message = await messageRow(db.sql, id)
    expect(message).toMatchObject({ status: 'sent', email_sent: recipients, email_queued: 0 })
  },
)

it(
  'four drainers with the limits lifted (no budget lock) still claim disjoint batches',
  { timeout: 120_000 },
  async () => {
    const clock = testClock()
    const recipients = 2_000
    await createRecipients(db.sql, recipients, 'unlimited')
    const id = await queueMessage(db.sql, clock.now())
    const before = resend.accepted

    const drainer = async () => {
      const sql = connect(db.url, { max: 3 })
      pools.push(sql)
      await runDrain({
        sql,
        provider: createResendProvider({
          apiKey: resend.apiKey,
          baseUrl: resend.url,
          timeoutMs: 5_000,
        }),
        emailLog: memoryEmailLog(),
        settings: drainSettings({ limits: { maxPerMinute: null, maxPerHour: null } }),
        env: {},
        now: clock.now,
        batchesInFlight: 2,
      })
    }
    await Promise.all([drainer(), drainer(), drainer(), drainer()])

    expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: recipients })
    expect(resend.accepted - before).toBe(recipients)
    const addresses = resend.emails.filter((email) => email.to.startsWith('unlimited'))
    expect(new Set(addresses.map((email) => email.to)).size).toBe(recipients)
    expect(addresses).toHaveLength(recipients)
  },
)

it(
  'an admin cancelling mid-send while four drainers work deadlocks nobody and stops the message',
  { timeout: 120_000 },
  async () => {
    const clock = testClock()
    await createRecipients(db.sql, 3_000, 'cancelled')
    const admin = await createAdmin(db.sql)
    const id = await queueMessage(db.sql, clock.now())
    let cancelled = false
    const acceptedBefore = resend.accepted
    resend.onRequest = async () => {
      if (cancelled || resend.accepted - acceptedBefore < 600) return
      cancelled = true
      await asUser(db.sql, admin.id, (tx) => tx`select public.cancel_message(${id})`)
    }

    const drainer = async () => {
      const sql = connect(db.url, { max: 3 })
      pools.push(sql)
      await runDrain({
        sql,
        provider: createResendProvider({
          apiKey: resend.apiKey,
          baseUrl: resend.url,
          timeoutMs: 5_000,
        }),
        emailLog: memoryEmailLog(),
        settings: drainSettings({ limits: { maxPerMinute: null, maxPerHour: null } }),
        env: {},
        now: clock.now,
        batchesInFlight: 2,
      })
    }
    try {
      await Promise.all([drainer(), drainer(), drainer(), drainer()])
    } finally {
      resend.onRequest = undefined
    }

    expect(cancelled).toBe(true)
    const counts = await emailStatusCounts(db.sql, id)
    expect(Object.keys(counts).sort()).toEqual(['cancelled', 'sent'])
    expect(counts.sent! + counts.cancelled!).toBe(3_001)
    // Batches in flight at the cancel were sent and recorded; every email went out exactly once.
    expect(resend.accepted - acceptedBefore).toBe(counts.sent)
    expect(counts.cancelled).toBeGreaterThan(0)
    expect((await messageRow(db.sql, id)).status).toBe('cancelled')
  },
)
