// Resend's batch endpoint (POST /emails/batch, up to 100 emails) on top of the shared HTTP batch
// adapter. The batch's idempotency key goes in the Idempotency-Key header, so a batch re-sent
// after a crash or a timeout comes back with the first answer and no second email. Permissive
// validation (x-batch-validation: permissive) makes Resend send the valid emails of a batch and
// list the invalid ones by index, so one bad address does not fail the other 99.

import {
  formatError,
  type EmailBatch,
  type EmailProvider,
  type EmailResult,
} from './email-provider.ts'
import { classifyStatus, postBatch, type FetchFunction } from './http-batch.ts'

export const resendMaxBatchSize = 100

export interface ResendOptions {
  apiKey: string
  /** https://api.resend.com, or a fake's URL in tests. */
  baseUrl: string
  timeoutMs: number
  fetchFunction?: FetchFunction
}

interface ResendBatchAnswer {
  data?: { id?: string }[]
  errors?: { index?: number; message?: string }[]
}

export function createResendProvider(options: ResendOptions): EmailProvider {
  const url = `${options.baseUrl.replace(/\/+$/, '')}/emails/batch`

  return {
    name: 'resend',
    maxBatchSize: resendMaxBatchSize,
    async sendBatch(batch: EmailBatch) {
      const answer = await postBatch(
        {
          url,
          timeoutMs: options.timeoutMs,
          headers: {
            authorization: `Bearer ${options.apiKey}`,
            'idempotency-key': batch.idempotencyKey,
            'x-batch-validation': 'permissive',
          },
          body: batch.emails.map((email) => ({
            from: email.from,
            to: [email.to],
            subject: email.subject,
            html: email.html,
            text: email.text,
            headers: email.headers,
          })),
        },
        options.fetchFunction,
      )
      if (answer.kind !== 'response') return answer

      const { status, headers, body } = answer
      if (
        status === 409 &&
        (body as { name?: string })?.name === 'concurrent_idempotent_requests'
      ) {
        // The same batch is still being processed for another drainer: its answer is pending,
        // so ask again later rather than treat it as a conflict.
        return { kind: 'transient', cause: 'provider_error', detail: 'HTTP 409 concurrent request' }
      }
      if (status === 409) {
        return {
          kind: 'rejected',
          cause: 'idempotency_conflict',
          detail: `HTTP 409 ${describe(body)}`,
        }
      }
      if (status < 200 || status > 299) return classifyStatus(status, headers, body)

      return { kind: 'delivered', results: readResults(batch, body as ResendBatchAnswer) }
    },
  }
}

/** Resend lists accepted emails' ids in order, and the rejected ones by their index. */
function readResults(batch: EmailBatch, answer: ResendBatchAnswer): EmailResult[] {
  const rejected = new Map<number, string>()
  for (const error of answer.errors ?? []) {
    if (typeof error.index === 'number') rejected.set(error.index, error.message ?? 'rejected')
  }

  const ids = (answer.data ?? []).map((item) => item.id)
  let next = 0
  return batch.emails.map((email, index) => {
    const reason = rejected.get(index)
    if (reason !== undefined) {
      return { deliveryId: email.deliveryId, error: formatError('rejected', reason) }
    }
    const id = ids[next++]
    if (!id) {
      return {
        deliveryId: email.deliveryId,
        error: formatError('outcome_unknown', 'the provider returned no id for this email'),
      }
    }
    return { deliveryId: email.deliveryId, providerMessageId: id }
  })
}

function describe(body: unknown): string {
  const message = (body as { message?: unknown })?.message
  return typeof message === 'string' ? message.slice(0, 300) : ''
}
