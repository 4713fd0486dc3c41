// The email log: one JSON line per provider call (message, batch, count, provider ids, duration,
// outcome), to standard output, which Edge Functions keep, and appended to a file where one is
// configured and writable (the local stack, self-hosting). A file that cannot be written is
// reported once and then left alone; logging never stops a send.

import { appendFileSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

import { log } from '../log.ts'

export interface ProviderCallEntry {
  provider: string
  message_id: number
  batch_id: string
  idempotency_key: string
  attempt: number
  count: number
  outcome: 'delivered' | 'transient' | 'rejected' | 'unauthorized'
  cause?: string
  detail?: string
  sent?: number
  failed?: number
  provider_ids?: string[]
  retry_after_seconds?: number
  duration_ms: number
}

export interface EmailLog {
  record(entry: ProviderCallEntry): void
}

export function createEmailLog(options: { file?: string }): EmailLog {
  let file = options.file

  return {
    record(entry) {
      const level = entry.outcome === 'delivered' && !entry.failed ? 'info' : 'warn'
      log(level, 'email provider call', { ...entry })
      if (!file) return

      const line = JSON.stringify({ time: new Date().toISOString(), ...entry }) + '\n'
      try {
        mkdirSync(dirname(file), { recursive: true })
        appendFileSync(file, line)
      } catch (error) {
        log('warn', 'email log file is not writable; logging to standard output only', {
          file,
          reason: (error as Error).message,
        })
        file = undefined
      }
    },
  }
}
