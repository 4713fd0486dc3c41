// One run of the drain: fan queued messages out, then send email batches until the queue is
// empty, the rate budget is spent, the kill switch is on, or the run's time budget is used. Each
// step is a SQL function in its own transaction; this file only sequences them and talks to the
// provider, and its memory does not grow with the audience (one batch at a time per worker).

import type { Env } from '../config.ts'
import type { Sql } from '../db.ts'
import { formatError, type BatchOutcome, type EmailProvider } from '../email/email-provider.ts'
import type { EmailLog } from '../email/email-log.ts'
import {
  composeEmails,
  formatSender,
  renderMessage,
  type RenderedMessage,
} from './compose-email.ts'
import { emailDisabledByEnv, type DrainConfig } from './drain-config.ts'
import {
  claimEmailBatch,
  failEmailBatch,
  failMessage,
  fanOutNextMessage,
  nextRetryAt,
  purgeExpiredDeliveries,
  queuedEmailCount,
  readMessageContent,
  recordEmailBatch,
  retryEmailBatchLater,
  type Claim,
} from './email-queue.ts'

export type DrainStop =
  'idle' | 'budget' | 'email_disabled' | 'time_budget' | 'credentials_rejected'

export interface DrainSummary {
  fanned_out: number
  messages_failed: number
  batches: number
  claimed: number
  sent: number
  failed: number
  skipped: number
  retries_scheduled: number
  deferred_by_budget: number
  purged: number
  stopped: DrainStop
  duration_ms: number
  next_batch_at: string | null
}

export type DrainSettings = Pick<
  DrainConfig,
  'fromAddress' | 'fromName' | 'batchSize' | 'leaseSeconds' | 'timeBudgetMs' | 'retentionDays'
> & {
  /** null lifts a limit (the benchmark does): the claim then does not count that window. */
  limits: { maxPerMinute: number | null; maxPerHour: number | null }
  retry: DrainConfig['retry']
}

export interface DrainDeps {
  sql: Sql
  provider: EmailProvider
  emailLog: EmailLog
  settings: DrainSettings
  /** Read before every batch, so HIVESYNC_EMAIL_DISABLED takes effect mid-send. */
  env: Env
  /** The clock every SQL call receives as p_now; tests move it instead of waiting. */
  now?: () => Date
  /**
   * Batches in flight at once within this run (one when not given). Each is claimed, sent and
   * recorded by a loop of its own, so a cancel or the kill switch reaches every batch claimed
   * after it, while the batches the other loops had already claimed still go out.
   */
  batchesInFlight?: number
  /** Told how long each claim took, for the benchmark's claim latency. */
  observeClaim?: (milliseconds: number) => void
}

/** Deliveries removed per run at most, so retention never eats the run's time budget. */
const purgeLimitPerRun = 10_000

export async function runDrain(deps: DrainDeps): Promise<DrainSummary> {
  const now = deps.now ?? (() => new Date())
  const started = performance.now()
  const outOfTime = () => performance.now() - started > deps.settings.timeBudgetMs
  const summary: DrainSummary = {
    fanned_out: 0,
    messages_failed: 0,
    batches: 0,
    claimed: 0,
    sent: 0,
    failed: 0,
    skipped: 0,
    retries_scheduled: 0,
    deferred_by_budget: 0,
    purged: 0,
    stopped: 'idle',
    duration_ms: 0,
    next_batch_at: null,
  }

  // A large audience comes in ranges, a transaction each; the time budget is checked between them
  // and the next run goes on where this one stopped.
  while (!outOfTime()) {
    const fanned = await fanOutNextMessage(deps.sql, now())
    if (!fanned) break
    if (fanned.status !== 'queued') summary.fanned_out += 1
    if (fanned.status === 'failed') summary.messages_failed += 1
  }

  const rendered = new Map<number, RenderedMessage>()
  const stops: { stop: DrainStop; next: string | null }[] = []
  const worker = async () => {
    const stop = await sendBatches(deps, summary, rendered, now, outOfTime)
    stops.push(stop)
  }
  await Promise.all(Array.from({ length: Math.max(1, deps.batchesInFlight ?? 1) }, worker))

  // The most telling reason wins: a credential failure over a budget stop over running out of
  // work.
  const order: DrainStop[] = [
    'credentials_rejected',
    'email_disabled',
    'time_budget',
    'budget',
    'idle',
  ]
  const first = order.map((stop) => stops.find((s) => s.stop === stop)).find(Boolean)!
  summary.stopped = first.stop
  summary.next_batch_at = first.next

  if (summary.stopped === 'budget') summary.deferred_by_budget = await queuedEmailCount(deps.sql)
  if (summary.stopped === 'idle')
    summary.next_batch_at = (await nextRetryAt(deps.sql))?.toISOString() ?? null
  if (!outOfTime()) {
    summary.purged = await purgeExpiredDeliveries(
      deps.sql,
      deps.settings.retentionDays,
      purgeLimitPerRun,
      now(),
    )
  }

  summary.duration_ms = Math.round(performance.now() - started)
  return summary
}

// One worker's loop. Each batch is recorded while the provider is sending the next one, so the
// database work of a batch overlaps the network round trip of the next, and a claim still never
// runs beside another statement of the same worker. The next batch is claimed only once the
// provider has answered for the previous one: a cancel, a retraction or the kill switch reaches
// every batch claimed after it, as when each batch was recorded before the next claim. A worker
// killed in between leaves two batches to be re-claimed after their leases, with the same keys.
async function sendBatches(
  deps: DrainDeps,
  summary: DrainSummary,
  rendered: Map<number, RenderedMessage>,
  now: () => Date,
  outOfTime: () => boolean,
): Promise<{ stop: DrainStop; next: string | null }> {
  const { settings } = deps
  const claimOptions = {
    batchSize: Math.min(
      settings.batchSize ?? deps.provider.maxBatchSize,
      deps.provider.maxBatchSize,
    ),
    leaseSeconds: settings.leaseSeconds,
    maxPerMinute: settings.limits.maxPerMinute,
    maxPerHour: settings.limits.maxPerHour,
    maxAttempts: settings.retry.maxAttempts,
  }
  let unrecorded: SentBatch | undefined
  const finish = async (stop: DrainStop, next: string | null) => {
    if (unrecorded) await recordSentBatch(deps, summary, unrecorded, now)
    return { stop, next }
  }

  for (;;) {
    if (outOfTime()) return finish('time_budget', now().toISOString())
    if (emailDisabledByEnv(deps.env)) return finish('email_disabled', null)

    const claimStarted = performance.now()
    const claim = await claimEmailBatch(deps.sql, claimOptions, now())
    deps.observeClaim?.(performance.now() - claimStarted)
    if (claim.outcome === 'idle') return finish('idle', null)
    if (claim.outcome === 'disabled') return finish('email_disabled', null)
    if (claim.outcome === 'deferred') {
      const next = claim.next_batch_at ? new Date(claim.next_batch_at).toISOString() : null
      return finish('budget', next)
    }

    summary.skipped += claim.skipped
    summary.failed += claim.failed ?? 0
    if (!claim.batch_id || claim.deliveries.length === 0) continue

    const sending = sendClaimedBatch(deps, summary, rendered, claim)
    if (unrecorded) await recordSentBatch(deps, summary, unrecorded, now)
    unrecorded = await sending

    if (unrecorded.outcome.kind === 'unauthorized') return finish('credentials_rejected', null)
  }
}

interface SentBatch {
  claim: Extract<Claim, { outcome: 'claimed' | 'reclaimed' }>
  count: number
  outcome: BatchOutcome
}

async function sendClaimedBatch(
  deps: DrainDeps,
  summary: DrainSummary,
  rendered: Map<number, RenderedMessage>,
  claim: Extract<Claim, { outcome: 'claimed' | 'reclaimed' }>,
): Promise<SentBatch> {
  const batchId = claim.batch_id!
  let content = rendered.get(claim.message_id)
  if (!content) {
    const message = await readMessageContent(deps.sql, claim.message_id)
    content = renderMessage(message ?? { subject: '', body_markdown: '' })
    rendered.set(claim.message_id, content)
  }

  const from = formatSender(deps.settings.fromAddress, deps.settings.fromName)
  const emails = composeEmails(claim.message_id, content, claim.deliveries, from)
  summary.batches += 1
  summary.claimed += emails.length

  const callStarted = performance.now()
  const outcome = await callProvider(deps.provider, {
    messageId: claim.message_id,
    batchId,
    idempotencyKey: claim.idempotency_key!,
    attempt: claim.attempt,
    emails,
  })
  const entry = {
    provider: deps.provider.name,
    message_id: claim.message_id,
    batch_id: batchId,
    idempotency_key: claim.idempotency_key!,
    attempt: claim.attempt,
    count: emails.length,
    outcome: outcome.kind,
    duration_ms: Math.round((performance.now() - callStarted) * 10) / 10,
  }

  switch (outcome.kind) {
    case 'delivered': {
      const failures = outcome.results.flatMap((result) => ('error' in result ? [result] : []))
      deps.emailLog.record({
        ...entry,
        sent: outcome.results.length - failures.length,
        failed: failures.length,
        provider_ids: outcome.results.flatMap((result) =>
          'providerMessageId' in result ? [result.providerMessageId] : [],
        ),
        ...(failures.length > 0 ? { detail: failures[0]!.error } : {}),
      })
      break
    }
    case 'transient':
      deps.emailLog.record({
        ...entry,
        cause: outcome.cause,
        detail: outcome.detail,
        ...(outcome.retryAfterSeconds !== undefined
          ? { retry_after_seconds: outcome.retryAfterSeconds }
          : {}),
      })
      break
    case 'rejected':
      deps.emailLog.record({ ...entry, cause: outcome.cause, detail: outcome.detail })
      break
    case 'unauthorized':
      deps.emailLog.record({ ...entry, cause: 'credentials_rejected', detail: outcome.detail })
      break
  }
  return { claim, count: emails.length, outcome }
}

/** Writes what the provider answered for a batch into its deliveries (and message). */
async function recordSentBatch(
  deps: DrainDeps,
  summary: DrainSummary,
  { claim, count, outcome }: SentBatch,
  now: () => Date,
): Promise<void> {
  const batchId = claim.batch_id!
  switch (outcome.kind) {
    case 'delivered': {
      const results = outcome.results.map((result) =>
        'providerMessageId' in result
          ? { id: result.deliveryId, provider_message_id: result.providerMessageId }
          : { id: result.deliveryId, error: result.error },
      )
      const recorded = await recordEmailBatch(deps.sql, batchId, results, now())
      summary.sent += recorded.sent
      summary.failed += recorded.failed
      return
    }

    case 'transient': {
      const retry = await retryEmailBatchLater(
        deps.sql,
        batchId,
        formatError(outcome.cause, outcome.detail),
        outcome.retryAfterSeconds,
        deps.settings.retry,
        now(),
      )
      if (retry.outcome === 'retry') summary.retries_scheduled += 1
      if (retry.outcome === 'failed') summary.failed += count
      return
    }

    case 'rejected':
      summary.failed += await failEmailBatch(
        deps.sql,
        batchId,
        formatError(outcome.cause, outcome.detail),
        now(),
      )
      return

    case 'unauthorized':
      await failMessage(
        deps.sql,
        claim.message_id,
        formatError('credentials_rejected', `the provider refused the API key (${outcome.detail})`),
        now(),
      )
      summary.messages_failed += 1
      summary.failed += count
      return
  }
}

/** A provider that throws (a bug, or trouble we did not foresee) is treated as transient. */
async function callProvider(
  provider: EmailProvider,
  batch: Parameters<EmailProvider['sendBatch']>[0],
): Promise<BatchOutcome> {
  try {
    return await provider.sendBatch(batch)
  } catch (error) {
    return {
      kind: 'transient',
      cause: 'provider_error',
      detail: `the provider adapter failed: ${(error as Error).message}`.slice(0, 300),
    }
  }
}
