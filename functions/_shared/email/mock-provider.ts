// The mock provider of the local stack: every accepted email becomes one .eml file in the outbox,
// and idempotency keys behave as Resend's do. A key seen before with the same payload returns the
// first answer again and writes no new file; the same key with another payload is a 409
// conflict. The keys are kept on disk beside the outbox, so they survive a restart and hold
// across processes: the record is written completely to a temporary file and then hard-linked
// into place, which fails atomically if another drainer got there first.

import { createHash, randomUUID } from 'node:crypto'
import {
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'

import { buildEml } from './eml.ts'
import {
  formatError,
  type EmailBatch,
  type EmailProvider,
  type EmailResult,
} from './email-provider.ts'

export const mockMaxBatchSize = 100

interface KeyRecord {
  payload_hash: string
  created_at: string
  results: ({ index: number; id: string } | { index: number; error: string })[]
}

export function createMockProvider(options: { outboxDir: string }): EmailProvider {
  const keysDir = join(options.outboxDir, '.idempotency-keys')

  return {
    name: 'mock',
    maxBatchSize: mockMaxBatchSize,
    async sendBatch(batch: EmailBatch) {
      mkdirSync(keysDir, { recursive: true })
      const payloadHash = hashPayload(batch)
      const recordPath = join(keysDir, `${sha256(batch.idempotencyKey)}.json`)

      const record = storeFirst(recordPath, {
        payload_hash: payloadHash,
        created_at: new Date().toISOString(),
        results: batch.emails.map((email, index) =>
          plausibleAddress(email.to)
            ? { index, id: randomUUID() }
            : { index, error: 'the recipient address is not a valid email address' },
        ),
      })
      if (record.payload_hash !== payloadHash) {
        return {
          kind: 'rejected',
          cause: 'idempotency_conflict',
          detail: 'HTTP 409 this idempotency key was already used with a different payload',
        }
      }

      // Written by id, so a repeat (or the first writer's crash halfway) completes the set of
      // files without ever writing one email twice.
      for (const entry of record.results) {
        if (!('id' in entry)) continue
        const file = join(options.outboxDir, `${entry.id}.eml`)
        if (existsSync(file)) continue
        const eml = buildEml(batch.emails[entry.index]!, {
          providerMessageId: entry.id,
          date: new Date(record.created_at),
          domain: 'mock.hivesync.local',
        })
        writeAtomically(file, eml)
      }

      const results: EmailResult[] = record.results.map((entry) => {
        const deliveryId = batch.emails[entry.index]!.deliveryId
        return 'id' in entry
          ? { deliveryId, providerMessageId: entry.id }
          : { deliveryId, error: formatError('rejected', entry.error) }
      })
      return { kind: 'delivered', results }
    },
  }
}

/** Stores `record` unless one is already there; returns whichever record is stored. */
function storeFirst(path: string, record: KeyRecord): KeyRecord {
  const temporary = `${path}.${randomUUID()}.tmp`
  writeFileSync(temporary, JSON.stringify(record))
  try {
    linkSync(temporary, path)
    return record
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    return JSON.parse(readFileSync(path, 'utf8')) as KeyRecord
  } finally {
    rmSync(temporary, { force: true })
  }
}

function writeAtomically(path: string, content: string): void {
  const temporary = `${path}.${randomUUID()}.tmp`
  writeFileSync(temporary, content)
  renameSync(temporary, path)
}

/** What Resend would compare: the emails as sent, not our delivery ids. */
function hashPayload(batch: EmailBatch): string {
  return sha256(
    JSON.stringify(
      batch.emails.map(({ from, to, subject, html, text, headers }) => ({
        from,
        to,
        subject,
        html,
        text,
        headers,
      })),
    ),
  )
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex')
}

function plausibleAddress(address: string): boolean {
  return address.length <= 254 && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(address)
}
