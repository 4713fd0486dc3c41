// The audience part: the live estimate of each filter set of the fixed mix, timed through the path
// the admin API uses (a transaction carrying the admin's claims, as authenticated, under RLS),
// beside `select count(*) from users` in the same run; the slowest set is explained.

import { randomUUID } from 'node:crypto'

import { withClaims, type Sql } from '../functions/_shared/db.ts'
import type { Filters } from '../shared/filters.ts'
import { audienceFilterSets } from './audience-filter-sets.ts'
import {
  percentile,
  round,
  timeMs,
  writeResults,
  type BenchContext,
  type BenchPart,
} from './context.ts'

const warmupRounds = 3
const timedRounds = 25
const limits = { p95Ms: 300, ratioToCount: 4, generationSeconds: 300 }

export const audiencePart: BenchPart = { name: 'audience', run: runAudienceBench }

async function runAudienceBench(context: BenchContext): Promise<void> {
  const { sql, now } = context
  const adminId = await createBenchAdmin(sql)

  // A freshly loaded table is scanned faster once its hint bits and visibility map are set, as
  // they are on any database that has been running a while.
  await sql`vacuum (analyze) public.users`
  await sql`vacuum (analyze) public.user_activity`

  const estimate = (filters: Filters) =>
    withClaims(
      sql,
      { role: 'authenticated', sub: adminId, aud: 'authenticated' },
      (tx) =>
        tx`select * from public.estimate_audience(${tx.json(filters as never)}::jsonb, ${now})`,
    )
  const countUsers = () => sql`select count(*) from public.users`

  const samples = new Map<string, number[]>(audienceFilterSets.map((s) => [s.name, []]))
  const countSamples: number[] = []
  for (let round = 0; round < warmupRounds + timedRounds; round++) {
    const timed = round >= warmupRounds
    const countMs = await timeMs(countUsers)
    if (timed) countSamples.push(countMs)
    for (const set of audienceFilterSets) {
      const ms = await timeMs(() => estimate(set.filters))
      if (timed) samples.get(set.name)!.push(ms)
    }
  }

  const sets = []
  for (const set of audienceFilterSets) {
    const [counts] = await estimate(set.filters)
    const times = samples.get(set.name)!
    sets.push({
      name: set.name,
      filters: set.filters,
      matched: counts as unknown as { in_app: number; email: number; distinct_users: number },
      p50_ms: round(percentile(times, 50)),
      p95_ms: round(percentile(times, 95)),
    })
  }

  const allEstimates = [...samples.values()].flat()
  const estimateP95 = percentile(allEstimates, 95)
  const count = {
    users: Number((await countUsers())[0]!.count),
    p50_ms: round(percentile(countSamples, 50)),
    p95_ms: round(percentile(countSamples, 95)),
  }
  const slowest = sets.reduce((a, b) => (b.p95_ms > a.p95_ms ? b : a))
  const plan = await explainEstimate(sql, adminId, slowest.filters, now)

  const result = {
    part: 'audience',
    users: context.users,
    seed: context.seed,
    now: now.toISOString(),
    generation: context.generation,
    environment: context.environment,
    rounds: timedRounds,
    count_users: count,
    estimate: {
      p50_ms: round(percentile(allEstimates, 50)),
      p95_ms: round(estimateP95),
      p95_to_count_p95: round(estimateP95 / count.p95_ms, 2),
    },
    sets,
    slowest: { name: slowest.name, explain: plan },
    limits,
    passed: {
      generation: context.generation.seconds < limits.generationSeconds,
      p95: estimateP95 <= limits.p95Ms,
      ratio: estimateP95 <= limits.ratioToCount * count.p95_ms,
    },
  }

  const files = writeResults(`audience-${context.users}`, result, renderMarkdown(result))
  console.log(renderMarkdown(result))
  console.log(`written: ${files.join(', ')}`)
}

async function createBenchAdmin(sql: Sql): Promise<string> {
  const id = randomUUID()
  await sql`
    insert into auth.users (id, email, aud, role)
    values (${id}, ${`bench-admin-${id.slice(0, 8)}@example.com`}, 'authenticated', 'authenticated')
  `
  await sql`insert into public.admins (user_id) values (${id})`
  return id
}

/** The plan of the query estimate_audience runs for these filters, as the admin under RLS. */
async function explainEstimate(sql: Sql, adminId: string, filters: Filters, now: Date) {
  return withClaims(
    sql,
    { role: 'authenticated', sub: adminId, aud: 'authenticated' },
    async (tx) => {
      const [{ predicate }] = (await tx`
      select public.audience_predicate(${tx.json(filters as never)}::jsonb) as predicate
    `) as unknown as [{ predicate: string }]
      // The function plans with its parameters' values known; literals give the same plan here.
      const query = predicate
        .replaceAll('$1', `'${now.toISOString()}'::timestamptz`)
        .replaceAll('$2', String(Math.floor(now.getTime() / 3_600_000)))
      const rows = await tx.unsafe(
        `explain (analyze, buffers) select count(*), count(*) filter (where a.email_reachable),
           count(*) from public.user_activity a where ${query}`,
      )
      return rows.map((r) => r['QUERY PLAN'] as string).join('\n')
    },
  )
}

type AudienceResult = {
  users: number
  seed: number
  now: string
  generation: BenchContext['generation']
  environment: BenchContext['environment']
  rounds: number
  count_users: { users: number; p50_ms: number; p95_ms: number }
  estimate: { p50_ms: number; p95_ms: number; p95_to_count_p95: number }
  sets: {
    name: string
    filters: Filters
    matched: { in_app: number; email: number; distinct_users: number }
    p50_ms: number
    p95_ms: number
  }[]
  slowest: { name: string; explain: string }
  limits: typeof limits
  passed: Record<string, boolean>
}

function renderMarkdown(r: AudienceResult): string {
  const env = r.environment
  const rows = r.sets.map(
    (s) =>
      `| ${s.name} | \`${JSON.stringify(s.filters)}\` | ${s.matched.distinct_users} | ` +
      `${s.matched.in_app} | ${s.matched.email} | ${s.p50_ms} | ${s.p95_ms} |`,
  )
  return [
    `# Audience estimate benchmark, ${r.users} users`,
    '',
    `- commit: ${env.commit}`,
    `- machine: ${env.machine.cpu}, ${env.machine.cores} cores, ${env.machine.memory_gb} GB, ` +
      `${env.machine.os}; Node ${env.node}`,
    `- server: ${env.postgres}`,
    `- settings: ${Object.entries(env.server_settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
    `- data: seed ${r.seed}, now ${r.now}; ${r.generation.users} users, ` +
      `${r.generation.sessions} sessions, ${r.generation.events} telemetry events, generated in ` +
      `${r.generation.seconds} s (limit ${r.limits.generationSeconds} s)`,
    `- timing: ${r.rounds} rounds after warm-up, each estimate as the admin under RLS through ` +
      'withClaims, exactly as the admin API calls it',
    '',
    `| | p50 ms | p95 ms |`,
    `|---|---|---|`,
    `| \`select count(*) from users\` (${r.count_users.users} rows) | ${r.count_users.p50_ms} | ` +
      `${r.count_users.p95_ms} |`,
    `| estimate, all sets | ${r.estimate.p50_ms} | ${r.estimate.p95_ms} |`,
    '',
    `Estimate p95 is ${r.estimate.p95_to_count_p95}× the count(*) p95 (limit ` +
      `${r.limits.ratioToCount}×) and ${r.estimate.p95_ms} ms (limit ${r.limits.p95Ms} ms). ` +
      `Passed: ${Object.entries(r.passed)
        .map(([k, v]) => `${k} ${v ? 'yes' : 'NO'}`)
        .join(', ')}.`,
    '',
    '| set | filters | distinct | in-app | email | p50 ms | p95 ms |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `## Plan of the slowest set (${r.slowest.name})`,
    '',
    '```',
    r.slowest.explain,
    '```',
    '',
  ].join('\n')
}
