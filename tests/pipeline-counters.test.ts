import { beforeEach, describe, expect, it } from 'vitest'

import type { EmailProvider, EmailResult } from '../functions/_shared/email/email-provider.ts'
import { runDrain } from '../functions/_shared/pipeline/run-drain.ts'
import { useTestDatabase } from './support/database.ts'
import { asUser, createAdmin, type UserRow } from './support/fixtures.ts'
import {
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
let admin: UserRow

beforeEach(async () => {
  await resetPipelineData(db.sql)
  admin = await createAdmin(db.sql, { email: 'admin@example.com' })
})

/** A small seeded generator (mulberry32), so a failing mix can be replayed from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A provider at the edge that answers at random: sent, some emails refused, 5xx, or 422. */
function unreliableProvider(next: () => number): EmailProvider {
  return {
    name: 'unreliable',
    maxBatchSize: 100,
    async sendBatch(batch) {
      const roll = next()
      if (roll < 0.15) return { kind: 'transient', cause: 'provider_error', detail: 'HTTP 500' }
      if (roll < 0.25) return { kind: 'rejected', cause: 'rejected', detail: 'HTTP 422' }
      const results: EmailResult[] = batch.emails.map((email) =>
        next() < 0.2
          ? { deliveryId: email.deliveryId, error: 'rejected: refused' }
          : {
              deliveryId: email.deliveryId,
              providerMessageId: `id-${email.deliveryId}-${batch.attempt}`,
            },
      )
      return { kind: 'delivered', results }
    },
  }
}

const counterColumns = ['queued', 'sending', 'sent', 'failed', 'skipped', 'cancelled'].flatMap(
  (status) => [`in_app_${status}`, `email_${status}`],
)

async function deliveryRows() {
  return db.sql<{ id: number; message_id: number; channel: string; status: string }[]>`
    select id, message_id, channel, status from public.message_deliveries
  `
}

describe.each([11, 2026, 90125])(
  'a randomised mix of sends, failures, skips, cancels and retention (seed %i)',
  (seed) => {
    it(
      'keeps every per-message counter equal to a count of its deliveries (plus what retention removed)',
      { timeout: 60_000 },
      async () => {
        const next = random(seed)
        const clock = testClock()
        const provider = unreliableProvider(next)
        const purged = new Map<string, number>()
        const messages: number[] = []

        await createRecipients(db.sql, 30, `mix${seed}-`)
        for (let step = 0; step < 100; step++) {
          const roll = next()
          clock.advance(Math.floor(next() * 6 * 3_600_000))

          if (roll < 0.2 || messages.length === 0) {
            const channel = (['in_app', 'email', 'both'] as const)[Math.floor(next() * 3)]!
            messages.push(await queueMessage(db.sql, clock.now(), { channel }))
          } else if (roll < 0.6) {
            await runDrain({
              sql: db.sql,
              provider,
              emailLog: memoryEmailLog(),
              settings: drainSettings({
                batchSize: 1 + Math.floor(next() * 8),
                limits: { maxPerMinute: 10, maxPerHour: 40 },
                retry: {
                  maxAttempts: 3,
                  baseSeconds: 30,
                  capSeconds: 900,
                  retryAfterCapSeconds: 3600,
                },
              }),
              env: {},
              now: clock.now,
            })
          } else if (roll < 0.75) {
            await db.sql`
          update public.users set email_opt_out = not email_opt_out
          where id = (select id from public.users order by id offset ${Math.floor(next() * 30)} limit 1)
        `
          } else if (roll < 0.85) {
            const open = await db.sql<{ id: number }[]>`
              select id from public.messages where status in ('queued', 'sending') order by id
            `
            const picked = open[Math.floor(next() * open.length)]
            if (picked) {
              await asUser(
                db.sql,
                admin.id,
                (tx) => tx`select public.cancel_message(${picked.id}, ${clock.now()})`,
              )
            }
          } else {
            const before = await deliveryRows()
            await db.sql`select public.purge_expired_deliveries(1, ${1 + Math.floor(next() * 40)}, ${clock.now()})`
            const after = new Set((await deliveryRows()).map((row) => row.id))
            for (const row of before.filter((row) => !after.has(row.id))) {
              const key = `${row.message_id}:${row.channel}_${row.status}`
              purged.set(key, (purged.get(key) ?? 0) + 1)
            }
          }
        }

        expect(purged.size).toBeGreaterThan(0)
        const statuses = new Set([...purged.keys()].map((key) => key.split('_').pop()))
        const live = await db.sql<
          { message_id: number; channel: string; status: string; n: number }[]
        >`
      select message_id, channel, status, count(*)::integer as n
      from public.message_deliveries group by 1, 2, 3
    `
        const counted = new Map(purged)
        for (const row of live) {
          const key = `${row.message_id}:${row.channel}_${row.status}`
          counted.set(key, (counted.get(key) ?? 0) + row.n)
        }
        for (const row of live) statuses.add(row.status)
        expect([...statuses].sort()).toEqual(
          expect.arrayContaining(['cancelled', 'failed', 'sent']),
        )
        const stored = await db.sql<Record<string, number>[]>`select * from public.messages`
        for (const message of stored) {
          for (const column of counterColumns) {
            expect({ message: message.id, column, value: message[column] }).toEqual({
              message: message.id,
              column,
              value: counted.get(`${message.id}:${column}`) ?? 0,
            })
          }
        }
      },
    )
  },
)

describe('retention', () => {
  it('removes only final deliveries older than the retention, and keeps their message counters', async () => {
    const clock = testClock()
    await createRecipients(db.sql, 3, 'old')
    const start = clock.now()
    const old = await queueMessage(db.sql, start, { channel: 'both' })
    await db.sql`select public.fan_out_next_message(${start})`
    clock.advance(1_000)
    const younger = await queueMessage(db.sql, clock.now(), { channel: 'in_app' })
    await db.sql`select public.fan_out_next_message(${clock.now()})`
    const before = await messageRow(db.sql, old)

    const ninetyDays = 90 * 24 * 3_600_000
    const purge = async (at: number) => {
      const [row] =
        await db.sql`select public.purge_expired_deliveries(90, 1000, ${new Date(at)}) as n`
      return row!.n as number
    }

    // Exactly 90 days old is not older than allowed.
    expect(await purge(start.getTime() + ninetyDays)).toBe(0)
    // A moment later the old message's final (in-app, sent) rows go, one per user including the
    // admin; its queued emails stay.
    expect(await purge(start.getTime() + ninetyDays + 1)).toBe(4)
    expect(await emailStatusCounts(db.sql, old)).toEqual({ queued: 4 })
    const [youngerRows] = await db.sql`
      select count(*)::integer as n from public.message_deliveries where message_id = ${younger}
    `
    expect(youngerRows!.n).toBe(4)
    expect(await messageRow(db.sql, old)).toEqual(before)
  })
})
