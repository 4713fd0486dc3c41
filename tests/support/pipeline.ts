// Helpers for tests of the sending pipeline: recipients in bulk, messages queued at a chosen
// instant, a clock the test moves, drain settings with small numbers, an email log kept in memory,
// and the check that no rolling window of reserved_at ever held more than its limit.

import type { Sql } from '../../functions/_shared/db.ts'
import type { EmailLog, ProviderCallEntry } from '../../functions/_shared/email/email-log.ts'
import type { DrainSettings } from '../../functions/_shared/pipeline/run-drain.ts'
import { createMessage, type MessageFields } from './fixtures.ts'

/** `count` users with addresses `<prefix><n>@example.com`, signed up through auth.users. */
export async function createRecipients(sql: Sql, count: number, prefix: string): Promise<void> {
  await sql`
    insert into auth.users (id, email, aud, role)
    select gen_random_uuid(), ${prefix} || g || '@example.com', 'authenticated', 'authenticated'
    from generate_series(1, ${count}::integer) g
  `
}

/** A draft sent the way the admin sends it (public.queue_message), at `now`. */
export async function queueMessage(
  sql: Sql,
  now: Date,
  fields: Partial<MessageFields> = {},
): Promise<number> {
  const { id } = await createMessage(sql, { channel: 'email', ...fields, status: 'draft' })
  await sql`select public.queue_message(${id}, ${now})`
  return id
}

export interface TestClock {
  now: () => Date
  advance(ms: number): void
  set(at: Date | string): void
}

let nextBase = Date.parse('2030-01-01T09:00:00Z')

/** A clock of its own, days after any other clock of the test file, so windows never overlap. */
export function testClock(): TestClock {
  let current = nextBase
  nextBase += 10 * 24 * 3600 * 1000
  return {
    now: () => new Date(current),
    advance: (ms) => {
      current += ms
    },
    set: (at) => {
      current = Math.max(current, new Date(at).getTime())
    },
  }
}

export function drainSettings(overrides: Partial<DrainSettings> = {}): DrainSettings {
  return {
    fromAddress: 'news@hivesync.test',
    fromName: 'HiveSync',
    batchSize: 100,
    leaseSeconds: 600,
    timeBudgetMs: 60_000,
    retentionDays: 90,
    limits: { maxPerMinute: 100_000, maxPerHour: 1_000_000 },
    retry: { maxAttempts: 5, baseSeconds: 30, capSeconds: 900, retryAfterCapSeconds: 3600 },
    ...overrides,
  }
}

export function memoryEmailLog(): EmailLog & { entries: ProviderCallEntry[] } {
  const entries: ProviderCallEntry[] = []
  return { entries, record: (entry) => void entries.push(entry) }
}

/** The most reservations any rolling window of `seconds` held (windows end at a reservation). */
export async function busiestWindow(sql: Sql, seconds: number): Promise<number> {
  const [row] = await sql<{ busiest: number | null }[]>`
    select max(n)::integer as busiest from (
      select (
        select count(*) from public.message_deliveries o
        where o.reserved_at > d.reserved_at - make_interval(secs => ${seconds})
          and o.reserved_at <= d.reserved_at
      ) as n
      from (select distinct reserved_at from public.message_deliveries
            where reserved_at is not null) d
    ) w
  `
  return row!.busiest ?? 0
}

export interface DeliveryCounts {
  [status: string]: number
}

export async function emailStatusCounts(sql: Sql, messageId: number): Promise<DeliveryCounts> {
  const rows = await sql<{ status: string; n: number }[]>`
    select status, count(*)::integer as n from public.message_deliveries
    where message_id = ${messageId} and channel = 'email' group by status
  `
  return Object.fromEntries(rows.map((row) => [row.status, row.n]))
}

export async function messageRow(sql: Sql, id: number) {
  const [row] = await sql<
    {
      status: string
      error_summary: string | null
      completed_at: Date | null
      email_queued: number
      email_sending: number
      email_sent: number
      email_failed: number
      email_skipped: number
      email_cancelled: number
      in_app_sent: number
    }[]
  >`select * from public.messages where id = ${id}`
  return row!
}

/** Empties messages, deliveries and users, and switches email back on: each test starts clean. */
export async function resetPipelineData(sql: Sql): Promise<void> {
  await sql`truncate public.messages cascade`
  await sql`delete from auth.users`
  await sql`update public.messaging_settings set email_disabled = false`
}
