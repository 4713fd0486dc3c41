// The drain's calls into the queue's SQL functions. Each is one statement, so each is its own
// transaction and one round trip. The drain runs as the role it connects with (SUPABASE_DB_URL:
// `postgres` on Supabase, which owns these tables, so row-level security does not apply to it,
// just as it does not to service_role). Switching to service_role with `set local role` inside a
// transaction would add three round trips to every call and no protection: the session could
// always switch back. The functions are security invoker and granted to service_role as well, for
// deployments that connect as that role.

import type { Sql } from '../db.ts'
import type { RetryPolicy } from './drain-config.ts'

export interface ClaimedDelivery {
  id: number
  user_id: string
  email: string
}

export type Claim =
  | { outcome: 'idle' }
  | { outcome: 'disabled' }
  | { outcome: 'deferred'; next_batch_at: string | null }
  | {
      outcome: 'claimed' | 'reclaimed'
      batch_id: string | null
      idempotency_key: string | null
      message_id: number
      attempt: number
      deliveries: ClaimedDelivery[]
      skipped: number
      /** Rows of an expired batch this claim ended as failed, out of attempts. */
      failed?: number
    }

export interface ClaimOptions {
  batchSize: number
  leaseSeconds: number
  /** null: no limit, and the window is not counted. */
  maxPerMinute: number | null
  maxPerHour: number | null
  maxAttempts: number
}

/** One range of the oldest queued message; its status stays queued while ranges remain. */
export async function fanOutNextMessage(
  sql: Sql,
  now: Date,
): Promise<{ message_id: number; status: string; error?: string } | null> {
  const [row] = await sql<{ result: { message_id: number; status: string } | null }[]>`
    select public.fan_out_next_message(${now}) as result
  `
  return row!.result
}

export async function claimEmailBatch(sql: Sql, options: ClaimOptions, now: Date): Promise<Claim> {
  const [row] = await sql<{ claim: Claim }[]>`
    select public.claim_email_batch(
      ${options.batchSize}, ${options.leaseSeconds}, ${options.maxPerMinute},
      ${options.maxPerHour}, ${options.maxAttempts}, ${now}
    ) as claim
  `
  return row!.claim
}

export interface DeliveryResult {
  id: number
  provider_message_id?: string
  error?: string
}

export async function recordEmailBatch(
  sql: Sql,
  batchId: string,
  results: DeliveryResult[],
  now: Date,
): Promise<{ sent: number; failed: number }> {
  const [row] = await sql<{ recorded: { sent: number; failed: number } }[]>`
    select public.record_email_batch(${batchId}, ${sql.json(results as never)}, ${now}) as recorded
  `
  return row!.recorded
}

export async function retryEmailBatchLater(
  sql: Sql,
  batchId: string,
  error: string,
  retryAfterSeconds: number | undefined,
  policy: RetryPolicy,
  now: Date,
): Promise<{ outcome: 'retry' | 'failed' | 'gone'; next_attempt_at?: string }> {
  const [row] = await sql<
    { result: { outcome: 'retry' | 'failed' | 'gone'; next_attempt_at?: string } }[]
  >`
    select public.retry_email_batch_later(
      ${batchId}, ${error}, ${retryAfterSeconds ?? null}, ${policy.maxAttempts},
      ${policy.baseSeconds}, ${policy.capSeconds}, ${policy.retryAfterCapSeconds}, ${now}
    ) as result
  `
  return row!.result
}

export async function failEmailBatch(sql: Sql, batchId: string, error: string, now: Date) {
  const [row] = await sql<{ rows: number }[]>`
    select public.close_email_batch(${batchId}, 'failed', ${error}, ${now}) as rows
  `
  return row!.rows
}

export async function failMessage(sql: Sql, messageId: number, error: string, now: Date) {
  await sql`select public.fail_message(${messageId}, ${error}, ${now})`
}

/** The earliest moment a batch waiting for a retry (or an expired lease) may go again. */
export async function nextRetryAt(sql: Sql): Promise<Date | null> {
  const [row] = await sql<{ at: Date | null }[]>`
    select min(lease_expires_at) as at from public.message_deliveries where status = 'sending'
  `
  return row!.at
}

/** Email deliveries still waiting in the queue, from the per-message counters. */
export async function queuedEmailCount(sql: Sql): Promise<number> {
  const [row] = await sql<{ queued: number }[]>`
    select coalesce(sum(email_queued), 0)::integer as queued
    from public.messages where status = 'sending'
  `
  return row!.queued
}

export async function purgeExpiredDeliveries(
  sql: Sql,
  retentionDays: number,
  limit: number,
  now: Date,
): Promise<number> {
  const [row] = await sql<{ purged: number }[]>`
    select public.purge_expired_deliveries(${retentionDays}, ${limit}, ${now}) as purged
  `
  return row!.purged
}

export async function readMessageContent(
  sql: Sql,
  messageId: number,
): Promise<{ subject: string; body_markdown: string } | undefined> {
  const [row] = await sql<{ subject: string; body_markdown: string }[]>`
    select subject, body_markdown from public.messages where id = ${messageId}
  `
  return row
}
