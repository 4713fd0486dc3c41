// A fake of Resend's batch endpoint, built from its published OpenAPI description
// (POST /emails/batch: a JSON array of up to 100 SendEmailRequest objects, an optional
// Idempotency-Key header of at most 256 characters, 200 with {"data": [{"id"}]}), plus what its
// documentation adds: permissive validation (x-batch-validation: permissive) answering
// {"data", "errors": [{"index", "message"}]}, errors as {"statusCode", "name", "message"}, and
// idempotency: the same key with the same payload answers the first response again without
// sending, the same key with another payload is 409 invalid_idempotent_request.
// Tests script failures per call: an HTTP status (with headers, e.g. Retry-After), a timeout (no
// answer at all) or a connection reset, either before the batch is processed or after it (the
// emails went out, the answer was lost).

import { createHash, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

export interface ReceivedEmail {
  id: string
  to: string
  from: string
  subject: string
  html?: string
  text?: string
  headers?: Record<string, string>
  idempotencyKey?: string
}

export type ScriptedFailure =
  | { status: number; headers?: Record<string, string>; body?: unknown; when?: 'before' }
  | { kind: 'timeout' | 'reset'; when?: 'before' | 'after' }

export interface FakeResend {
  url: string
  apiKey: string
  /** Every email accepted, in order: the emails that a real Resend would have sent. */
  emails: ReceivedEmail[]
  /** How many emails were accepted, also when they are not recorded. */
  accepted: number
  /** One entry per request: its key, the answer's status (0 for timeouts and resets), size. */
  calls: { idempotencyKey?: string; status: number; count: number; replay: boolean }[]
  failNext(...failures: ScriptedFailure[]): void
  /** Called for every request before anything else; lets a test act mid-send. */
  onRequest?: (call: number) => void | Promise<void>
  close(): Promise<void>
}

const plausibleAddress = /^[^@\s]+@[^@\s]+\.[^@\s]+$/

export async function startFakeResend(
  options: {
    apiKey?: string
    rejectAddress?: (address: string) => string | undefined
    /** false keeps only a count of accepted emails (the benchmark sends a million). */
    recordEmails?: boolean
  } = {},
): Promise<FakeResend> {
  const apiKey = options.apiKey ?? `re_test_${randomUUID().replaceAll('-', '')}`
  const failures: ScriptedFailure[] = []
  const keys = new Map<string, { hash: string; status: number; body: unknown }>()
  const sockets = new Set<Socket>()

  const fake: FakeResend = {
    url: '',
    apiKey,
    emails: [],
    accepted: 0,
    calls: [],
    failNext: (...next) => failures.push(...next),
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }

  const server = createServer((request, response) => {
    void handle(request, response).catch((error) => {
      response
        .writeHead(500)
        .end(JSON.stringify({ statusCode: 500, name: 'application_error', message: String(error) }))
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const raw = await readBody(request)
    const call = fake.calls.length
    await fake.onRequest?.(call)
    const key = header(request, 'idempotency-key')
    const record = (status: number, count: number, replay = false) =>
      fake.calls.push({ idempotencyKey: key, status, count, replay })

    if (request.method !== 'POST' || request.url !== '/emails/batch') {
      record(404, 0)
      return send(response, 404, error(404, 'not_found', 'The requested endpoint does not exist.'))
    }
    if (header(request, 'authorization') !== `Bearer ${apiKey}`) {
      record(401, 0)
      return send(response, 401, error(401, 'validation_error', 'API key is invalid'))
    }

    const failure = failures.shift()
    if (failure && failure.when !== 'after') {
      if ('status' in failure) {
        record(failure.status, 0)
        return send(
          response,
          failure.status,
          failure.body ?? error(failure.status, 'internal_server_error', 'scripted'),
          failure.headers,
        )
      }
      record(0, 0)
      return failure.kind === 'reset' ? request.socket.destroy() : undefined
    }

    if (key !== undefined && key.length > 256) {
      record(422, 0)
      return send(
        response,
        422,
        error(422, 'validation_error', 'Idempotency-Key is longer than 256 characters.'),
      )
    }

    let body: unknown
    try {
      body = JSON.parse(raw)
    } catch {
      record(422, 0)
      return send(response, 422, error(422, 'validation_error', 'The body is not valid JSON.'))
    }
    const structural = checkBatch(body)
    if (structural) {
      record(422, 0)
      return send(response, 422, error(422, 'validation_error', structural))
    }
    const items = body as Record<string, unknown>[]

    const hash = createHash('sha256').update(raw).digest('hex')
    const previous = key === undefined ? undefined : keys.get(key)
    if (previous && previous.hash !== hash) {
      record(409, items.length)
      return send(
        response,
        409,
        error(
          409,
          'invalid_idempotent_request',
          'Same idempotency key used with a different request payload.',
        ),
      )
    }

    let answer: { status: number; body: unknown }
    if (previous) {
      answer = previous
    } else {
      answer = processBatch(items, key, header(request, 'x-batch-validation') === 'permissive')
      if (key !== undefined) keys.set(key, { ...answer, hash })
    }
    record(answer.status, items.length, previous !== undefined)

    if (failure) return failure.kind === 'reset' ? request.socket.destroy() : undefined
    send(response, answer.status, answer.body)
  }

  function processBatch(
    items: Record<string, unknown>[],
    key: string | undefined,
    permissive: boolean,
  ) {
    const invalid = items.flatMap((item, index) => {
      const to = Array.isArray(item.to) ? item.to : [item.to]
      const bad = to.find(
        (address) => typeof address !== 'string' || !plausibleAddress.test(address),
      )
      if (bad !== undefined) return [{ index, message: `Invalid \`to\` field: ${String(bad)}` }]
      const refused = to.map((address) => options.rejectAddress?.(address as string)).find(Boolean)
      return refused ? [{ index, message: refused }] : []
    })
    if (invalid.length > 0 && !permissive) {
      return { status: 422, body: error(422, 'validation_error', invalid[0]!.message) }
    }

    const data: { id: string }[] = []
    items.forEach((item, index) => {
      if (invalid.some((entry) => entry.index === index)) return
      const id = randomUUID()
      data.push({ id })
      const to = Array.isArray(item.to) ? item.to : [item.to]
      fake.accepted += to.length
      if (options.recordEmails === false) return
      for (const address of to as string[]) {
        fake.emails.push({
          id,
          to: address,
          from: item.from as string,
          subject: item.subject as string,
          html: item.html as string | undefined,
          text: item.text as string | undefined,
          headers: item.headers as Record<string, string> | undefined,
          idempotencyKey: key,
        })
      }
    })
    return { status: 200, body: permissive ? { data, errors: invalid } : { data } }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  fake.url = `http://127.0.0.1:${address.port}`
  return fake
}

/** The request-level checks of the OpenAPI schema: an array of 1–100 SendEmailRequest objects. */
function checkBatch(body: unknown): string | undefined {
  if (!Array.isArray(body)) return 'The body must be an array of emails.'
  if (body.length < 1 || body.length > 100) return 'A batch holds from 1 to 100 emails.'
  for (const [index, item] of body.entries()) {
    if (!item || typeof item !== 'object') return `Email ${index} is not an object.`
    const { from, to, subject, html, text } = item as Record<string, unknown>
    if (typeof from !== 'string') return `Email ${index}: \`from\` is required.`
    if (typeof subject !== 'string') return `Email ${index}: \`subject\` is required.`
    const recipients = Array.isArray(to) ? to : [to]
    if (
      recipients.length < 1 ||
      recipients.length > 50 ||
      recipients.some((r) => typeof r !== 'string')
    ) {
      return `Email ${index}: \`to\` must be an address or 1 to 50 addresses.`
    }
    if (html !== undefined && typeof html !== 'string')
      return `Email ${index}: \`html\` must be a string.`
    if (text !== undefined && typeof text !== 'string')
      return `Email ${index}: \`text\` must be a string.`
  }
  return undefined
}

function error(statusCode: number, name: string, message: string) {
  return { statusCode, name, message }
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  response.writeHead(status, { 'content-type': 'application/json', ...headers })
  response.end(JSON.stringify(body))
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    request.on('error', reject)
  })
}
