import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'

import { createResendProvider } from '../functions/_shared/email/resend-batch.ts'
import { runDrain } from '../functions/_shared/pipeline/run-drain.ts'
import { repoRoot } from '../local/paths.ts'
import { useTestDatabase } from './support/database.ts'
import { startFakeResend, type FakeResend } from './support/fake-resend.ts'
import {
  createRecipients,
  drainSettings,
  emailStatusCounts,
  memoryEmailLog,
  messageRow,
  queueMessage,
  testClock,
} from './support/pipeline.ts'

const db = useTestDatabase()
let resend: FakeResend

beforeAll(async () => {
  resend = await startFakeResend()
})
afterAll(() => resend.close())

/** Starts the child drain and SIGKILLs it once the provider has answered, before it records. */
function drainAndKill(now: Date): Promise<string> {
  const child = spawn(
    join(repoRoot, 'node_modules', '.bin', 'tsx'),
    [join(repoRoot, 'tests', 'support', 'drain-crash-child.ts')],
    {
      env: {
        ...process.env,
        CRASH_DB_URL: db.url,
        CRASH_RESEND_URL: resend.url,
        CRASH_RESEND_KEY: resend.apiKey,
        CRASH_NOW: now.toISOString(),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )

  return new Promise((resolve, reject) => {
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const answered = /provider answered (\S+) delivered/.exec(output)
      if (answered) child.kill('SIGKILL')
    })
    child.on('exit', (_code, signal) =>
      signal === 'SIGKILL'
        ? resolve(/provider answered (\S+)/.exec(output)![1]!)
        : reject(new Error(`the child drain ended by itself: ${output}`)),
    )
  })
}

it(
  're-claims the batch of a drainer killed after the provider call, with the same key and payload, and sends nothing twice',
  { timeout: 60_000 },
  async () => {
    const clock = testClock()
    await createRecipients(db.sql, 3, 'crash')
    const id = await queueMessage(db.sql, clock.now())

    const batchId = await drainAndKill(clock.now())

    expect(resend.emails).toHaveLength(3)
    const [held] = await db.sql<{ n: number; key: string; lease: Date }[]>`
    select count(*)::integer as n, min(idempotency_key) as key, min(lease_expires_at) as lease
    from public.message_deliveries where batch_id = ${batchId} and status = 'sending'
  `
    expect(held!.n).toBe(3)

    const drain = () =>
      runDrain({
        sql: db.sql,
        provider: createResendProvider({
          apiKey: resend.apiKey,
          baseUrl: resend.url,
          timeoutMs: 5_000,
        }),
        emailLog: memoryEmailLog(),
        settings: drainSettings(),
        env: {},
        now: clock.now,
      })

    // Within the lease nobody touches the batch.
    clock.advance(599_000)
    expect(await drain()).toMatchObject({ batches: 0, next_batch_at: held!.lease.toISOString() })

    clock.advance(1_000)
    expect(await drain()).toMatchObject({ batches: 1, sent: 3 })

    // The provider saw the same key and byte-identical payload, and answered from its record.
    expect(resend.calls.map((call) => [call.idempotencyKey, call.status, call.replay])).toEqual([
      [held!.key, 200, false],
      [held!.key, 200, true],
    ])
    expect(resend.emails).toHaveLength(3)
    expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: 3 })
    const message = await messageRow(db.sql, id)
    expect(message).toMatchObject({ status: 'sent', email_queued: 0, email_sending: 0 })
    const [attempts] =
      await db.sql`select max(attempts)::integer as n from public.message_deliveries where batch_id = ${batchId}`
    expect(attempts!.n).toBe(2)
  },
)
