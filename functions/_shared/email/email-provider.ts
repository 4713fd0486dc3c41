// The interface between the drain and an email provider. A batch is fixed when it is claimed: its
// emails, its idempotency key and its payload never change, so a provider that honours the key
// (Resend, the mock) sends a re-claimed batch at most once. Errors travel as "cause: detail"
// strings so that summaries can count them by cause.

export interface OutgoingEmail {
  deliveryId: number
  to: string
  from: string
  subject: string
  html: string
  text: string
  headers: Record<string, string>
}

export interface EmailBatch {
  messageId: number
  batchId: string
  idempotencyKey: string
  attempt: number
  emails: OutgoingEmail[]
}

export type EmailResult =
  { deliveryId: number; providerMessageId: string } | { deliveryId: number; error: string }

export type TransientCause = 'rate_limited' | 'provider_error' | 'timeout' | 'connection_reset'

/**
 * What became of a batch:
 * - `delivered`: the provider answered per email (accepted with an id, or rejected with a reason);
 * - `transient`: nothing is known to have been sent and a retry may succeed (429, 5xx, timeout,
 *   connection reset); the same batch is retried after backoff;
 * - `rejected`: the provider refused the whole batch for good (e.g. a malformed request);
 * - `unauthorized`: the credentials were refused, so no message can be sent; the job fails.
 */
export type BatchOutcome =
  | { kind: 'delivered'; results: EmailResult[] }
  | { kind: 'transient'; cause: TransientCause; detail: string; retryAfterSeconds?: number }
  | { kind: 'rejected'; cause: string; detail: string }
  | { kind: 'unauthorized'; detail: string }

export interface EmailProvider {
  readonly name: string
  /** The most emails one call may carry. */
  readonly maxBatchSize: number
  sendBatch(batch: EmailBatch): Promise<BatchOutcome>
}

export function formatError(cause: string, detail: string): string {
  return `${cause}: ${detail}`
}
