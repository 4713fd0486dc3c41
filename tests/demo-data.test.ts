// The demo data generator: deterministic, with the mix of users the filters are about, and a
// summary that resolution reads exactly as a brute-force reading of the raw rows would.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'

import { withClaims, type Sql } from '../functions/_shared/db.ts'
import { demoDataSqlPath, generateDemoData } from '../local/demo-data.ts'
import { repoRoot } from '../local/paths.ts'
import { audienceFilterSets } from '../bench/audience-filter-sets.ts'
import type { Filters } from '../shared/filters.ts'
import { useTestDatabase } from './support/database.ts'
import { createAdmin } from './support/fixtures.ts'

const first = useTestDatabase()
const second = useTestDatabase()

const now = new Date('2026-06-15T12:34:56Z')
const options = { users: 3000, seed: 7, now }

/** A fingerprint of every row the generator writes, in a stable order. */
async function fingerprint(sql: Sql): Promise<Record<string, string>> {
  const tables = {
    auth_users: 'select id, email, aud, role, created_at from auth.users order by id',
    users: 'select * from public.users order by id',
    user_sessions: 'select * from public.user_sessions order by id',
    telemetry_events: 'select * from public.telemetry_events order by id',
    user_activity: 'select * from public.user_activity order by user_id',
  }
  const result: Record<string, string> = {}
  for (const [name, query] of Object.entries(tables)) {
    const [row] = await sql.unsafe(
      `select count(*) as n, md5(coalesce(string_agg(t::text, '|'), '')) as hash from (${query}) t`,
    )
    result[name] = `${row!.n}:${row!.hash}`
  }
  return result
}

beforeAll(async () => {
  await generateDemoData(first.sql, options)
  await generateDemoData(second.sql, options)
})

describe('generateDemoData', () => {
  it('generates identical data for the same users, seed and instant', async () => {
    expect(await fingerprint(first.sql)).toEqual(await fingerprint(second.sql))
  })

  it('generates other data for another seed', async () => {
    const other = await fingerprint(second.sql)
    await second.sql`truncate auth.users, public.users cascade`
    await generateDemoData(second.sql, { ...options, seed: 8 })
    const changed = await fingerprint(second.sql)
    expect(changed.users).not.toEqual(other.users)
    expect(changed.telemetry_events).not.toEqual(other.telemetry_events)
  })

  it('rejects a user count, seed or instant it cannot use', async () => {
    await expect(generateDemoData(first.sql, { ...options, users: 0 })).rejects.toThrow(/users/)
    await expect(generateDemoData(first.sql, { ...options, seed: -1 })).rejects.toThrow(/seed/)
    await expect(generateDemoData(first.sql, { ...options, now: new Date('x') })).rejects.toThrow(
      /valid Date/,
    )
  })

  it('marks exactly the addresses the syntax check rejects as invalid', async () => {
    const [row] = await first.sql`
      select count(*) filter (where email_invalid <> not public.is_plausible_email(email))::int
               as disagreeing,
             count(*) filter (where email_invalid)::int as invalid
      from public.users
    `
    expect(row).toEqual({ disagreeing: 0, invalid: expect.any(Number) })
    expect(row!.invalid).toBeGreaterThan(0)
  })

  it('has the mix of plans, trials, consent, clients and activity the filters are about', async () => {
    const [mix] = await first.sql`
      select count(*) filter (where plan = 'paid')::float / count(*) as paid,
             count(*) filter (where plan = 'trial')::float / count(*) as trial,
             count(*) filter (where plan = 'trial' and trial_ends_at > ${now}
                              and trial_ends_at <= ${now}::timestamptz + interval '7 days')::int
               as trials_ending_soon,
             count(*) filter (where trial_ends_at <= ${now} and plan <> 'paid')::int
               as trials_expired,
             count(*) filter (where downgraded_at is not null and plan <> 'paid')::int
               as downgraded,
             count(*) filter (where downgraded_at is not null and plan = 'paid')::int
               as paid_again,
             count(*) filter (where email_opt_out)::int as opted_out,
             count(*) filter (where email_bounced)::int as bounced,
             count(*) filter (where deleted_at is not null)::int as deleted
      from public.users
    `
    expect(mix!.paid).toBeGreaterThan(0.1)
    expect(mix!.paid).toBeLessThan(0.3)
    expect(mix!.trial).toBeGreaterThan(0.04)
    for (const key of [
      'trials_ending_soon',
      'trials_expired',
      'downgraded',
      'paid_again',
      'opted_out',
      'bounced',
      'deleted',
    ]) {
      expect(mix![key], key).toBeGreaterThan(0)
    }

    // Design section 4: about 5 % of users active a day, about 15 events each, 30 days.
    const [rates] = await first.sql`
      select count(distinct (user_id, date_trunc('day', occurred_at)))::float / 30 / ${options.users}
               as daily_active,
             count(*)::float / count(distinct (user_id, date_trunc('day', occurred_at)))
               as events_per_active_day,
             min(occurred_at) >= ${now}::timestamptz - interval '30 days' as within_30_days,
             count(distinct kind)::int as kinds,
             count(distinct client)::int as clients
      from public.telemetry_events
    `
    expect(rates!.daily_active).toBeGreaterThan(0.035)
    expect(rates!.daily_active).toBeLessThan(0.07)
    expect(rates!.events_per_active_day).toBeGreaterThan(11)
    expect(rates!.events_per_active_day).toBeLessThan(19)
    expect(rates!.within_30_days).toBe(true)
    expect(rates!.kinds).toBe(5)
    expect(rates!.clients).toBe(4)
  })

  it('is what supabase/seed.sql loads for the CLI local stack', () => {
    const seed = readFileSync(join(repoRoot, 'supabase', 'seed.sql'), 'utf8')
    expect(seed).toContain(readFileSync(demoDataSqlPath, 'utf8'))
    expect(seed).toMatch(/select pg_temp\.demo_generate\(\d+, \d+, now\(\)\)/)
  })
})

// Facts per user computed straight from users, sessions and telemetry, not from user_activity.
async function rawFacts(sql: Sql) {
  return sql<
    {
      id: string
      plan: string
      trial_ends_at: Date | null
      downgraded_at: Date | null
      deleted: boolean
      reachable: boolean
      last_active_at: Date | null
      last_preview_at: Date | null
      live_view: boolean
      clients: string[]
      ai_7d: number
    }[]
  >`
    with activity as (
      select user_id, last_seen_at as at, client, null as kind from public.user_sessions
      union all
      select user_id, occurred_at, client, kind from public.telemetry_events
    )
    select u.id, u.plan, u.trial_ends_at, u.downgraded_at, u.deleted_at is not null as deleted,
           u.email is not null and public.is_plausible_email(u.email)
             and not (u.email_opt_out or u.email_bounced or u.email_invalid) as reachable,
           max(a.at) as last_active_at,
           max(a.at) filter (where a.kind = 'preview_used') as last_preview_at,
           coalesce(bool_or(a.kind = 'live_view_joined'), false) as live_view,
           coalesce(array_agg(distinct a.client) filter (where a.client is not null), '{}')
             as clients,
           count(*) filter (
             where a.kind = 'ai_request'
               and a.at >= date_trunc('hour', ${now}::timestamptz) - interval '167 hours'
               and a.at < date_trunc('hour', ${now}::timestamptz) + interval '1 hour'
           )::int as ai_7d
    from public.users u
    left join activity a on a.user_id = u.id
    group by u.id
  `
}

type Fact = Awaited<ReturnType<typeof rawFacts>>[number]

const windowMs = { '24h': 24, '7d': 168, '30d': 720 } as const

/** The filter contract of design section 3, written out independently of the SQL. */
function matches(f: Fact, filters: Filters): boolean {
  const t = now.getTime()
  const ms = (d: Date | null) => (d ? d.getTime() : null)
  const checks: boolean[] = [!f.deleted]
  if (filters.plan) checks.push(f.plan === filters.plan)
  if (filters.trial_expires_within_days !== undefined) {
    const ends = ms(f.trial_ends_at)
    const limit = t + filters.trial_expires_within_days * 86_400_000
    checks.push(f.plan === 'trial' && ends !== null && ends > t && ends <= limit)
  }
  if (filters.trial_expired_not_upgraded) {
    checks.push(f.trial_ends_at !== null && ms(f.trial_ends_at)! <= t && f.plan !== 'paid')
  }
  if (filters.downgraded_within_days !== undefined) {
    const since = t - filters.downgraded_within_days * 86_400_000
    checks.push(f.downgraded_at !== null && ms(f.downgraded_at)! >= since && f.plan !== 'paid')
  }
  if (filters.active_within) {
    const since = t - windowMs[filters.active_within] * 3_600_000
    checks.push(f.last_active_at !== null && ms(f.last_active_at)! >= since)
  }
  if (filters.inactive_for) {
    const since = t - windowMs[filters.inactive_for] * 3_600_000
    checks.push(f.last_active_at === null || ms(f.last_active_at)! < since)
  }
  if (filters.ai_requests_7d_above !== undefined) {
    checks.push(f.ai_7d > filters.ai_requests_7d_above)
  }
  if (filters.ai_requests_7d_below !== undefined) {
    checks.push(f.ai_7d < filters.ai_requests_7d_below)
  }
  if (filters.used_preview_30d) {
    checks.push(f.last_preview_at !== null && ms(f.last_preview_at)! >= t - 720 * 3_600_000)
  }
  if (filters.joined_live_view) checks.push(f.live_view)
  if (filters.devices) checks.push(filters.devices.every((d) => f.clients.includes(d)))
  return checks.every(Boolean)
}

describe('resolution over demo data', () => {
  let adminId: string
  let facts: Fact[]

  beforeAll(async () => {
    adminId = (await createAdmin(first.sql, { email: null, deleted_at: now })).id
    facts = await rawFacts(first.sql)
  })

  const asAdmin = <T>(work: Parameters<typeof withClaims<T>>[2]) =>
    withClaims(first.sql, { role: 'authenticated', sub: adminId, aud: 'authenticated' }, work)

  const extraSets: { name: string; filters: Filters }[] = [
    { name: 'all users', filters: {} },
    {
      name: 'trial ending, active, iPad',
      filters: {
        plan: 'trial',
        trial_expires_within_days: 7,
        active_within: '7d',
        devices: ['ipad'],
      },
    },
    {
      name: 'light AI users active today',
      filters: { ai_requests_7d_below: 3, active_within: '24h' },
    },
    {
      name: 'expired and inactive',
      filters: { trial_expired_not_upgraded: true, inactive_for: '7d' },
    },
  ]

  it.each([...audienceFilterSets, ...extraSets])(
    'resolves "$name" to exactly the users a brute-force reading finds, and counts them',
    async ({ filters }) => {
      const rows = await asAdmin(
        (tx) =>
          tx<{ user_id: string; channel: string }[]>`
          select user_id, channel from public.resolve_audience(${tx.json(filters as never)}, ${now})
        `,
      )
      const [counts] = await asAdmin(
        (tx) => tx`select * from public.estimate_audience(${tx.json(filters as never)}, ${now})`,
      )

      const expected = facts.filter((f) => f.id !== adminId && matches(f, filters))
      const inApp = rows.filter((r) => r.channel === 'in_app').map((r) => r.user_id)
      const email = rows.filter((r) => r.channel === 'email').map((r) => r.user_id)
      expect(inApp.sort()).toEqual(expected.map((f) => f.id).sort())
      expect(email.sort()).toEqual(
        expected
          .filter((f) => f.reachable)
          .map((f) => f.id)
          .sort(),
      )
      expect(counts).toEqual({
        in_app: inApp.length,
        email: email.length,
        distinct_users: new Set(rows.map((r) => r.user_id)).size,
      })
    },
  )

  it('finds somebody for most sets, so the comparisons above are not all empty', async () => {
    const nonEmpty = audienceFilterSets.filter((s) => facts.some((f) => matches(f, s.filters)))
    expect(nonEmpty.length).toBeGreaterThanOrEqual(audienceFilterSets.length - 1)
  })
})
