import { serve, type ServerType } from '@hono/node-server'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'

import { createDrainApp } from '../functions/drain/app.ts'
import { readDrainConfig, type DrainConfig } from '../functions/_shared/pipeline/drain-config.ts'
import {
  createLocalDrain,
  drainIntervalSeconds,
  startDrainScheduler,
} from '../local/drain-scheduler.ts'
import { HiveSyncError } from '../shared/errors.ts'
import { useTestDatabase } from './support/database.ts'
import {
  createRecipients,
  messageRow,
  queueMessage,
  resetPipelineData,
} from './support/pipeline.ts'

const db = useTestDatabase()
const secret = 'drain-secret-for-tests-0123456789'
let dataDir: string
let config: DrainConfig

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'hivesync-data-'))
  config = readDrainConfig(
    {
      HIVESYNC_DRAIN_SECRET: secret,
      HIVESYNC_EMAIL_PROVIDER: 'mock',
      HIVESYNC_EMAIL_MAX_PER_MINUTE: '50',
    },
    dataDir,
  )
})
beforeEach(() => resetPipelineData(db.sql))

function post(authorization?: string) {
  const app = createDrainApp({ sql: db.sql, config, env: {} })
  return app.request('/drain', {
    method: 'POST',
    headers: authorization ? { authorization } : {},
  })
}

describe('POST /drain', () => {
  it('answers 401 without the bearer secret, and with a wrong one, before doing anything', async () => {
    await createRecipients(db.sql, 1, 'guarded')
    const id = await queueMessage(db.sql, new Date())

    const missing = await post()
    expect(missing.status).toBe(401)
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('missing_token')
    const wrong = await post('Bearer not-the-secret')
    expect(wrong.status).toBe(401)
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('invalid_token')
    expect((await messageRow(db.sql, id)).status).toBe('queued')
  })

  it('drains with the secret and answers the summary; the mock outbox and the email log fill up', async () => {
    await createRecipients(db.sql, 3, 'served')
    const id = await queueMessage(db.sql, new Date())

    const response = await post(`Bearer ${secret}`)

    expect(response.status).toBe(200)
    const summary = (await response.json()) as Record<string, unknown>
    expect(summary).toMatchObject({
      fanned_out: 1,
      claimed: 3,
      sent: 3,
      failed: 0,
      skipped: 0,
      stopped: 'idle',
    })
    expect(summary).toHaveProperty('duration_ms')
    expect(summary).toHaveProperty('next_batch_at', null)
    expect((await messageRow(db.sql, id)).status).toBe('sent')
    expect(
      readdirSync(join(dataDir, 'outbox')).filter((file) => file.endsWith('.eml')),
    ).toHaveLength(3)
    const logged = readFileSync(join(dataDir, 'logs', 'email.log'), 'utf8')
      .trim()
      .split('\n')
    expect(JSON.parse(logged.at(-1)!)).toMatchObject({
      provider: 'mock',
      message_id: id,
      count: 3,
      outcome: 'delivered',
    })
  })
})

describe('the local drain scheduler', () => {
  let server: ServerType
  let url: string

  let localSecret: string

  beforeAll(async () => {
    // As npm start builds it: no secret configured, so a random one shared with the scheduler.
    const drain = createLocalDrain(db.sql, {
      HIVESYNC_DATA_DIR: mkdtempSync(join(tmpdir(), 'hivesync-local-')),
    })
    localSecret = drain.secret
    url = await new Promise((resolve) => {
      server = serve({ fetch: drain.app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
        resolve(`http://127.0.0.1:${info.port}/drain`),
      )
    })
  })
  afterAll(() => new Promise<void>((done) => server.close(() => done())))

  it('calls the drain URL with the bearer secret on its interval', async () => {
    await createRecipients(db.sql, 2, 'timer')
    const id = await queueMessage(db.sql, new Date())

    expect(localSecret.length).toBeGreaterThanOrEqual(16)
    const scheduler = startDrainScheduler({ url, secret: localSecret, intervalSeconds: 1 })
    try {
      const deadline = Date.now() + 10_000
      while ((await messageRow(db.sql, id)).status !== 'sent' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    } finally {
      scheduler.stop()
    }
    expect((await messageRow(db.sql, id)).status).toBe('sent')
  })

  it('defaults to every 10 seconds and refuses a nonsensical interval', () => {
    expect(drainIntervalSeconds({})).toBe(10)
    expect(drainIntervalSeconds({ HIVESYNC_DRAIN_INTERVAL_SECONDS: '3' })).toBe(3)
    expect(() => drainIntervalSeconds({ HIVESYNC_DRAIN_INTERVAL_SECONDS: '0' })).toThrow(
      /HIVESYNC_DRAIN_INTERVAL_SECONDS/,
    )
  })
})

describe('drain configuration', () => {
  const configError = (env: Record<string, string>) => {
    try {
      readDrainConfig(env, dataDir)
    } catch (error) {
      expect(error).toBeInstanceOf(HiveSyncError)
      return (error as HiveSyncError).message
    }
    throw new Error('the configuration was accepted')
  }

  it('names the variable and the fix when something is missing or malformed', () => {
    expect(configError({ HIVESYNC_EMAIL_PROVIDER: 'mock' })).toMatch(
      /^HIVESYNC_DRAIN_SECRET must be set/,
    )
    expect(configError({ HIVESYNC_DRAIN_SECRET: secret })).toMatch(
      /^HIVESYNC_EMAIL_PROVIDER is not set/,
    )
    expect(
      configError({ HIVESYNC_DRAIN_SECRET: secret, HIVESYNC_EMAIL_PROVIDER: 'resend' }),
    ).toMatch(/^HIVESYNC_EMAIL_API_KEY is not set/)
    expect(
      configError({
        HIVESYNC_DRAIN_SECRET: secret,
        HIVESYNC_EMAIL_PROVIDER: 'mock',
        HIVESYNC_EMAIL_MAX_PER_HOUR: 'lots',
      }),
    ).toMatch(/^HIVESYNC_EMAIL_MAX_PER_HOUR must be a whole number/)
    expect(
      configError({
        HIVESYNC_DRAIN_SECRET: secret,
        HIVESYNC_EMAIL_PROVIDER: 'mock',
        HIVESYNC_DRAIN_BATCHES_IN_FLIGHT: '0',
      }),
    ).toMatch(/^HIVESYNC_DRAIN_BATCHES_IN_FLIGHT must be a whole number from 1 to 8/)
  })

  it('uses the design defaults', () => {
    const defaults = readDrainConfig(
      { HIVESYNC_DRAIN_SECRET: secret, HIVESYNC_LOCAL_MODE: '1' },
      dataDir,
    )
    expect(defaults).toMatchObject({
      provider: 'mock',
      outboxDir: join(dataDir, 'outbox'),
      emailLogFile: join(dataDir, 'logs', 'email.log'),
      leaseSeconds: 600,
      batchesInFlight: 2,
      retentionDays: 90,
      limits: { maxPerMinute: 100, maxPerHour: 1000, maxMessagesPerDay: 10 },
      retry: { maxAttempts: 5, baseSeconds: 30, capSeconds: 900, retryAfterCapSeconds: 3600 },
    })
  })
})
