import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'

import type { Env } from '../functions/_shared/config.ts'
import { createMockProvider } from '../functions/_shared/email/mock-provider.ts'
import { readMessagingStatus } from '../functions/_shared/pipeline/messaging-status.ts'
import { runDrain } from '../functions/_shared/pipeline/run-drain.ts'
import { assertMessageCanBeQueued } from '../functions/_shared/pipeline/sending-limits.ts'
import { HiveSyncError } from '../shared/errors.ts'
import { useTestDatabase } from './support/database.ts'
import { asUser, createAdmin, createMessage, type UserRow } from './support/fixtures.ts'
import {
  createRecipients,
  drainSettings,
  memoryEmailLog,
  resetPipelineData,
  testClock,
} from './support/pipeline.ts'

const db = useTestDatabase()
let admin: UserRow

beforeEach(async () => {
  await resetPipelineData(db.sql)
  admin = await createAdmin(db.sql, { email: 'admin@example.com' })
  await createRecipients(db.sql, 3, 'limits')
})

/** What the send route does: the checks, then queue_message, in the admin's transaction. */
async function send(id: number, env: Env, now: Date) {
  return asUser(db.sql, admin.id, async (tx) => {
    await assertMessageCanBeQueued(tx, id, { env, now })
    const [row] = await tx<{ status: string }[]>`select * from public.queue_message(${id}, ${now})`
    return row!.status
  })
}

async function draft(channel: 'in_app' | 'email' | 'both' = 'both') {
  return (await createMessage(db.sql, { created_by_admin_id: admin.id, channel })).id
}

async function refusal(promise: Promise<unknown>): Promise<HiveSyncError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(HiveSyncError)
  return error as HiveSyncError
}

describe('the daily cap', () => {
  it('refuses the (N+1)-th message in a rolling 24 hours with 429, and allows it once the first is a day old', async () => {
    const clock = testClock()
    const env = { HIVESYNC_MAX_MESSAGES_PER_DAY: '3' }
    const start = clock.now()
    for (let n = 0; n < 3; n++) {
      expect(await send(await draft(), env, clock.now())).toBe('queued')
      clock.advance(3_600_000)
    }

    const fourth = await draft()
    const error = await refusal(send(fourth, env, clock.now()))
    expect(error).toMatchObject({ code: 'daily_cap_reached', status: 429 })
    expect(error.details).toEqual({ limit: 3, window_hours: 24 })
    const [still] = await db.sql`select status from public.messages where id = ${fourth}`
    expect(still!.status).toBe('draft')

    clock.set(new Date(start.getTime() + 24 * 3_600_000 + 1))
    expect(await send(fourth, env, clock.now())).toBe('queued')
  })

  it('lets only one of two simultaneous sends take the last slot', async () => {
    const clock = testClock()
    const env = { HIVESYNC_MAX_MESSAGES_PER_DAY: '2' }
    await send(await draft(), env, clock.now())

    const results = await Promise.allSettled([
      send(await draft(), env, clock.now()),
      send(await draft(), env, clock.now()),
    ])

    expect(results.map((result) => result.status).sort()).toEqual(['fulfilled', 'rejected'])
    const [queued] =
      await db.sql`select count(*)::integer as n from public.messages where status = 'queued'`
    expect(queued!.n).toBe(2)
  })

  it('defaults to 10 messages a day', async () => {
    const clock = testClock()
    for (let n = 0; n < 10; n++) await send(await draft('in_app'), {}, clock.now())
    const error = await refusal(send(await draft('in_app'), {}, clock.now()))
    expect(error.code).toBe('daily_cap_reached')
  })
})

describe('the kill switch at send time', () => {
  it('refuses email with 503 when the variable is set, naming the layer', async () => {
    const clock = testClock()
    const error = await refusal(
      send(await draft('email'), { HIVESYNC_EMAIL_DISABLED: 'true' }, clock.now()),
    )
    expect(error).toMatchObject({
      code: 'email_disabled',
      status: 503,
      details: { layer: 'environment' },
    })
  })

  it('refuses email with 503 when the admin switched it off, but lets in-app messages go', async () => {
    const clock = testClock()
    await db.sql`update public.messaging_settings set email_disabled = true`

    const error = await refusal(send(await draft('both'), {}, clock.now()))
    expect(error).toMatchObject({
      code: 'email_disabled',
      status: 503,
      details: { layer: 'database' },
    })
    expect(await send(await draft('in_app'), {}, clock.now())).toBe('queued')
  })
})

it('reports both kill-switch layers and what is left of each budget', async () => {
  const clock = testClock()
  const env = {
    HIVESYNC_EMAIL_MAX_PER_MINUTE: '3',
    HIVESYNC_EMAIL_MAX_PER_HOUR: '10',
    HIVESYNC_MAX_MESSAGES_PER_DAY: '5',
  }
  const id = await draft('email')
  await send(id, env, clock.now())
  await runDrain({
    sql: db.sql,
    provider: createMockProvider({ outboxDir: mkdtempSync(join(tmpdir(), 'hivesync-outbox-')) }),
    emailLog: memoryEmailLog(),
    settings: drainSettings({ limits: { maxPerMinute: 3, maxPerHour: 10 } }),
    env: {},
    now: clock.now,
  })
  await asUser(
    db.sql,
    admin.id,
    (tx) => tx`update public.messaging_settings set email_disabled = true`,
  )

  clock.advance(10_000)
  const status = await asUser(db.sql, admin.id, (tx) =>
    readMessagingStatus(tx, {
      env: { ...env, HIVESYNC_EMAIL_DISABLED: 'false' },
      now: clock.now(),
    }),
  )

  expect(status.email_disabled).toBe(true)
  expect(status.kill_switch.environment.email_disabled).toBe(false)
  expect(status.kill_switch.database).toMatchObject({ email_disabled: true, changed_by: admin.id })
  expect(status.kill_switch.database.changed_at).not.toBeNull()
  expect(status.budgets).toEqual({
    emails_per_minute: { limit: 3, used: 3, left: 0 },
    emails_per_hour: { limit: 10, used: 3, left: 7 },
    messages_per_day: { limit: 5, used: 1, left: 4 },
    next_email_at: new Date(clock.now().getTime() - 10_000 + 60_000).toISOString(),
  })
  expect(status.queue).toEqual({ messages_waiting: 0, messages_sending: 1, emails_queued: 1 })
})
