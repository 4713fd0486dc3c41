// The HTTP side every batch provider shares: one POST with a deadline, and the classification of
// what came back. Transient (retry the same batch after backoff): 429 with its Retry-After, 408,
// any 5xx, a timeout, a connection reset or any other network failure before a complete answer.
// Unauthorized (the job fails): 401 and 403. Permanent (the batch fails at once): other 4xx.
// Provider adapters build the request and read a successful answer; they may refine the
// classification of a status (Resend's 409 "concurrent request" is transient, for example).

import type { BatchOutcome } from './email-provider.ts'

export interface HttpBatchRequest {
  url: string
  headers: Record<string, string>
  body: unknown
  timeoutMs: number
}

export type HttpBatchAnswer =
  | { kind: 'response'; status: number; headers: Headers; body: unknown }
  | Extract<BatchOutcome, { kind: 'transient' }>

export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>

/** POSTs the batch as JSON; never throws for network trouble, which comes back as transient. */
export async function postBatch(
  request: HttpBatchRequest,
  fetchFunction: FetchFunction = fetch,
): Promise<HttpBatchAnswer> {
  // A timer of our own, cleared once the answer is read: AbortSignal.timeout would keep every
  // request's signal, and what hangs on it, alive until the timeout elapses, so a drain sending
  // dozens of batches a second held the last thirty seconds of them in memory.
  const deadline = new AbortController()
  const timer = setTimeout(
    () => deadline.abort(new DOMException('The provider did not answer in time.', 'TimeoutError')),
    request.timeoutMs,
  )
  try {
    const response = await fetchFunction(request.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...request.headers },
      body: JSON.stringify(request.body),
      signal: deadline.signal,
    })
    // The body is read under the same deadline: a server that stalls or drops the connection
    // halfway through its answer is as unknown as one that never answered.
    const text = await response.text()
    return {
      kind: 'response',
      status: response.status,
      headers: response.headers,
      body: parseJson(text),
    }
  } catch (error) {
    return networkFailure(error, deadline.signal.aborted, request.timeoutMs)
  } finally {
    clearTimeout(timer)
  }
}

export function networkFailure(
  error: unknown,
  timedOut: boolean,
  timeoutMs: number,
): Extract<BatchOutcome, { kind: 'transient' }> {
  const name = (error as Error)?.name
  if (timedOut || name === 'TimeoutError' || name === 'AbortError') {
    return { kind: 'transient', cause: 'timeout', detail: `no answer within ${timeoutMs} ms` }
  }

  const cause = (error as { cause?: { code?: string; message?: string } })?.cause
  const code = cause?.code ?? (error as { code?: string })?.code
  return {
    kind: 'transient',
    cause: 'connection_reset',
    detail: code ? `the connection failed (${code})` : 'the connection failed before an answer',
  }
}

/** The outcome of a non-2xx answer, by status class. */
export function classifyStatus(status: number, headers: Headers, body: unknown): BatchOutcome {
  const detail = `HTTP ${status}${describeBody(body)}`

  if (status === 429) {
    return { kind: 'transient', cause: 'rate_limited', detail, ...retryAfter(headers) }
  }
  if (status === 408) return { kind: 'transient', cause: 'timeout', detail }
  if (status >= 500) {
    return { kind: 'transient', cause: 'provider_error', detail, ...retryAfter(headers) }
  }
  if (status === 401 || status === 403) return { kind: 'unauthorized', detail }
  return { kind: 'rejected', cause: 'rejected', detail }
}

/** Retry-After in seconds, from either of its forms (delta-seconds or an HTTP date). */
export function retryAfter(headers: Headers, now = Date.now()): { retryAfterSeconds?: number } {
  const raw = headers.get('retry-after')?.trim()
  if (!raw) return {}

  if (/^\d+$/.test(raw)) return { retryAfterSeconds: Number(raw) }

  const at = Date.parse(raw)
  if (Number.isNaN(at)) return {}
  return { retryAfterSeconds: Math.max(0, Math.ceil((at - now) / 1000)) }
}

function parseJson(text: string): unknown {
  if (text === '') return null
  try {
    return JSON.parse(text)
  } catch {
    return text.slice(0, 200)
  }
}

/** A short, log-safe reading of an error body: the provider's own error name and message. */
function describeBody(body: unknown): string {
  if (body && typeof body === 'object') {
    const { name, message } = body as { name?: unknown; message?: unknown }
    const parts = [name, message].filter((part) => typeof part === 'string')
    if (parts.length > 0) return ` ${parts.join(': ').slice(0, 300)}`
  }
  if (typeof body === 'string' && body !== '') return ` ${body.slice(0, 200)}`
  return ''
}
