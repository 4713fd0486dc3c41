import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, expect, it } from 'vitest'

import type { Env } from '../functions/_shared/config.ts'
import type { EmailProvider } from '../functions/_shared/email/email-provider.ts'
import { createMockProvider } from '../functions/_shared/email/mock-provider.ts'
import { runDrain } from '../functions/_shared/pipeline/run-drain.ts'
import { useTestDatabase } from './support/database.ts'
import {
  createRecipients,
  drainSettings,
  emailStatusCounts,
  memoryEmailLog,
  messageRow,
  queueMessage,
  resetPipelineData,
  testClock,
  type TestClock,
} from './support/pipeline.ts'

const db = useTestDatabase()

beforeEach(() => resetPipelineData(db.sql))

/** The mock provider, with a hook that runs after each batch it sends. */
function providerWith(afterBatch: (call: number) => Promise<void> | void): EmailProvider {
  const outbox = createMockProvider({ outboxDir: mkdtempSync(join(tmpdir(), 'hivesync-outbox-')) })
  let calls = 0
  return {
    name: outbox.name,
    maxBatchSize: outbox.maxBatchSize,
    async sendBatch(batch) {
      const outcome = await outbox.sendBatch(batch)
      await afterBatch(++calls)
      return outcome
    },
  }
}

function drain(clock: TestClock, provider: EmailProvider, env: Env, batchesInFlight = 1) {
  return runDrain({
    sql: db.sql,
    provider,
    emailLog: memoryEmailLog(),
    settings: drainSettings({ batchSize: 2 }),
    env,
    now: clock.now,
    batchesInFlight,
  })
}

it('stops before the next batch when the switch is flipped in the database, and resumes once it is off', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 6, 'switch')
  const id = await queueMessage(db.sql, clock.now())
  const provider = providerWith(async (call) => {
    if (call === 1) await db.sql`update public.messaging_settings set email_disabled = true`
  })

  const stopped = await drain(clock, provider, {})
  expect(stopped).toMatchObject({ stopped: 'email_disabled', sent: 2, batches: 1 })
  expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: 2, queued: 4 })

  clock.advance(60_000)
  expect(await drain(clock, provider, {})).toMatchObject({ stopped: 'email_disabled', batches: 0 })
  expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: 2, queued: 4 })

  await db.sql`update public.messaging_settings set email_disabled = false`
  expect(await drain(clock, provider, {})).toMatchObject({ stopped: 'idle', sent: 4 })
  expect((await messageRow(db.sql, id)).status).toBe('sent')
})

it('stops before the next batch when HIVESYNC_EMAIL_DISABLED is set mid-send, and resumes once unset', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 5, 'variable')
  const id = await queueMessage(db.sql, clock.now())
  const env: Env = {}
  const provider = providerWith((call) => {
    if (call === 2) env.HIVESYNC_EMAIL_DISABLED = 'true'
  })

  expect(await drain(clock, provider, env)).toMatchObject({ stopped: 'email_disabled', sent: 4 })
  expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: 4, queued: 1 })

  delete env.HIVESYNC_EMAIL_DISABLED
  expect(await drain(clock, provider, env)).toMatchObject({ sent: 1 })
  expect((await messageRow(db.sql, id)).status).toBe('sent')
})

it('with two batches in flight, sends at most the other batch already claimed once the switch is flipped', async () => {
  const clock = testClock()
  await createRecipients(db.sql, 10, 'in-flight')
  const id = await queueMessage(db.sql, clock.now())
  // The first batch the provider finishes flips the switch, and no provider call returns before
  // the flip has committed: every claim a loop makes after its first batch comes after the flip.
  const outbox = providerWith(() => {})
  let flip: Promise<unknown> | undefined
  let flipped = false
  let startedAfterFlip = 0
  const provider: EmailProvider = {
    ...outbox,
    async sendBatch(batch) {
      if (flipped) startedAfterFlip += 1
      const outcome = await outbox.sendBatch(batch)
      flip ??= db.sql`update public.messaging_settings set email_disabled = true`.then(() => {
        flipped = true
      })
      await flip
      return outcome
    },
  }

  const stopped = await drain(clock, provider, {}, 2)
  expect(stopped.stopped).toBe('email_disabled')
  expect(stopped.batches).toBeLessThanOrEqual(2)
  expect(startedAfterFlip).toBeLessThanOrEqual(1)
  const counts = await emailStatusCounts(db.sql, id)
  expect(counts).toEqual({ sent: stopped.batches * 2, queued: 10 - stopped.batches * 2 })

  await db.sql`update public.messaging_settings set email_disabled = false`
  expect(await drain(clock, provider, {}, 2)).toMatchObject({ stopped: 'idle' })
  expect(await emailStatusCounts(db.sql, id)).toEqual({ sent: 10 })
  expect((await messageRow(db.sql, id)).status).toBe('sent')
})
