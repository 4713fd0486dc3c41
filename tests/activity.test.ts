// The per-user activity summary kept by triggers: it must agree with a brute-force reading of the
// raw sessions and events however late or out of order they arrive, and with a set-based rebuild.

import { beforeAll, describe, expect, it } from 'vitest'

import { useTestDatabase } from './support/database.ts'
import { createUser, type UserRow } from './support/fixtures.ts'

const db = useTestDatabase()

const now = new Date('2026-06-15T12:00:00Z')
const hour = 3600 * 1000
const at = (offsetMs: number) => new Date(now.getTime() + offsetMs)
const clients = ['desktop', 'ipad', 'mobile', 'vscode'] as const
const kinds = ['ai_request', 'ai_request', 'preview_used', 'live_view_joined', 'document_opened']

/** A small deterministic generator, so a failure replays exactly. */
function random(seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return state / 2 ** 31
  }
}

let lateUser: UserRow
let busyUsers: UserRow[]

async function insertEvents(user: UserRow, events: { kind: string; client: string; at: Date }[]) {
  for (const e of events) {
    await db.sql`
      insert into public.telemetry_events (user_id, kind, client, occurred_at)
      values (${user.id}, ${e.kind}, ${e.client}, ${e.at})
    `
  }
}

/** The summary of one user, with the 7-day AI count for p_now, read from user_activity. */
async function summary(userId: string, pNow: Date) {
  const [row] = await db.sql`
    select last_active_at, last_preview_at, joined_live_view, devices,
           public.ai_requests_7d(ai_hours, ai_cumulative, ${pNow}) as ai_7d
    from public.user_activity where user_id = ${userId}
  `
  return row
}

/** The same facts computed directly from the raw rows. */
async function bruteForce(userId: string, pNow: Date) {
  const [row] = await db.sql`
    with activity as (
      select last_seen_at as at, client, null as kind from public.user_sessions
      where user_id = ${userId}
      union all
      select occurred_at, client, kind from public.telemetry_events where user_id = ${userId}
    )
    select max(at) as last_active_at,
           max(at) filter (where kind = 'preview_used') as last_preview_at,
           coalesce(bool_or(kind = 'live_view_joined'), false) as joined_live_view,
           coalesce(bit_or(public.client_bit(client)), 0)::smallint as devices,
           count(*) filter (
             where kind = 'ai_request'
               and public.hour_number(at) between public.hour_number(${pNow}) - 167
                                              and public.hour_number(${pNow})
           )::integer as ai_7d
    from activity
  `
  return row
}

beforeAll(async () => {
  const rand = random(20260615)
  busyUsers = [await createUser(db.sql), await createUser(db.sql), await createUser(db.sql)]

  // Twelve days of events per user, inserted in a shuffled order, so most arrive after later ones.
  for (const user of busyUsers) {
    const events = Array.from({ length: 120 }, () => ({
      kind: kinds[Math.floor(rand() * kinds.length)]!,
      client: clients[Math.floor(rand() * clients.length)]!,
      at: at(-Math.floor(rand() * 12 * 24 * hour)),
    }))
    await insertEvents(user, events)
    await db.sql`
      insert into public.user_sessions (user_id, client, started_at, last_seen_at)
      values (${user.id}, 'vscode', ${at(-50 * hour)}, ${at(-49 * hour)})
    `
  }

  lateUser = await createUser(db.sql)
})

describe('the activity summary', () => {
  it('agrees with a brute-force count over raw events inserted out of order', async () => {
    for (const user of busyUsers) {
      for (const pNow of [now, at(-hour), at(-20 * hour), at(3 * 24 * hour)]) {
        expect(await summary(user.id, pNow)).toEqual(await bruteForce(user.id, pNow))
      }
    }
  })

  it('folds in events that arrive after the fact, older than what it already holds', async () => {
    await insertEvents(lateUser, [{ kind: 'ai_request', client: 'mobile', at: at(-hour) }])
    await insertEvents(lateUser, [
      { kind: 'ai_request', client: 'ipad', at: at(-100 * hour) },
      { kind: 'preview_used', client: 'desktop', at: at(-200 * hour) },
      { kind: 'ai_request', client: 'desktop', at: at(-170 * hour) },
      { kind: 'ai_request', client: 'desktop', at: at(-100 * hour) },
    ])

    const row = await summary(lateUser.id, now)
    expect(row).toEqual(await bruteForce(lateUser.id, now))
    expect(row!.ai_7d).toBe(3)
    expect(row!.last_active_at).toEqual(at(-hour))
    expect(row!.devices).toBe(1 | 2 | 4)
  })

  it('moves last activity forward when a session is seen again', async () => {
    const [session] = await db.sql`
      insert into public.user_sessions (user_id, client, started_at, last_seen_at)
      values (${lateUser.id}, 'desktop', ${at(-2 * hour)}, ${at(-2 * hour)})
      returning id
    `
    await db.sql`update public.user_sessions set last_seen_at = ${now} where id = ${session!.id}`
    expect((await summary(lateUser.id, now))!.last_active_at).toEqual(now)
  })

  it('keeps AI requests of one hour apart from the next, at the 7-day edge', async () => {
    const edge = await createUser(db.sql)
    await insertEvents(edge, [
      { kind: 'ai_request', client: 'desktop', at: at(-167 * hour) },
      { kind: 'ai_request', client: 'desktop', at: at(-168 * hour) },
    ])
    expect((await summary(edge.id, now))!.ai_7d).toBe(1)
    expect((await summary(edge.id, at(hour)))!.ai_7d).toBe(0)
    expect((await summary(edge.id, at(-hour)))!.ai_7d).toBe(2)
  })

  it('is what a set-based rebuild computes from the same rows', async () => {
    const before = await db.sql`select * from public.user_activity order by user_id`
    await db.sql`select public.rebuild_user_activity()`
    expect(await db.sql`select * from public.user_activity order by user_id`).toEqual(before)
  })

  it('rolls off buckets that no window can reach, without changing any count', async () => {
    const counts = async () =>
      db.sql`
        select user_id, public.ai_requests_7d(ai_hours, ai_cumulative, ${at(48 * hour)}) as n
        from public.user_activity order by user_id
      `
    const before = await counts()
    const [{ rolled }] = (await db.sql`
      select public.roll_off_user_activity(${at(48 * hour)}) as rolled
    `) as unknown as [{ rolled: number }]

    expect(rolled).toBeGreaterThan(0)
    expect(await counts()).toEqual(before)
  })
})
