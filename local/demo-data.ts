// Loads local/demo-data.sql (a seeded generator that exists only in the loading session's pg_temp)
// and runs it in one transaction. For tests, the local stack and the benchmark; never production:
// the generator is not part of any migration.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import type { Sql, Tx } from '../functions/_shared/db.ts'
import { HiveSyncError } from '../shared/errors.ts'
import { repoRoot } from './paths.ts'

export const demoDataSqlPath = join(repoRoot, 'local', 'demo-data.sql')

export interface DemoDataOptions {
  /** How many users to create, 1 to 10 000 000. */
  users: number
  /** Any whole number from 0 to 2^31 - 1; the same seed gives the same data. */
  seed: number
  /** The instant the data is generated around: trials, activity and telemetry are relative to it. */
  now: Date
}

export interface DemoDataSummary {
  users: number
  sessions: number
  events: number
}

export async function generateDemoData(
  sql: Sql,
  options: DemoDataOptions,
): Promise<DemoDataSummary> {
  const { users, seed, now } = validateOptions(options)
  const generator = readFileSync(demoDataSqlPath, 'utf8')

  // One transaction, so the session settings the generator uses end with it and a failure
  // leaves nothing half-loaded.
  return sql.begin(async (tx) => {
    await tx.unsafe(generator)
    const before = await countRows(tx)
    await tx`select pg_temp.demo_generate(${users}::integer, ${seed}::integer, ${now}::timestamptz)`
    const after = await countRows(tx)
    await tx.unsafe(`
      drop function pg_temp.demo_generate(integer, integer, timestamptz);
      drop function pg_temp.demo_pick_client(integer, double precision);
      drop function pg_temp.demo_clients(integer);
      drop function pg_temp.demo_random(integer, integer, bigint);
    `)
    return {
      users: after.users - before.users,
      sessions: after.sessions - before.sessions,
      events: after.events - before.events,
    }
  }) as Promise<DemoDataSummary>
}

async function countRows(tx: Tx): Promise<DemoDataSummary> {
  const [row] = await tx<DemoDataSummary[]>`
    select (select count(*) from public.users) as users,
           (select count(*) from public.user_sessions) as sessions,
           (select count(*) from public.telemetry_events) as events
  `
  return row!
}

function validateOptions(options: DemoDataOptions): DemoDataOptions {
  const { users, seed, now } = options
  if (!Number.isInteger(users) || users < 1 || users > 10_000_000) {
    throw new HiveSyncError(
      'invalid_demo_options',
      `Demo data needs users to be a whole number from 1 to 10000000, not ${users}.`,
      { status: 400 },
    )
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 31 - 1) {
    throw new HiveSyncError(
      'invalid_demo_options',
      `Demo data needs seed to be a whole number from 0 to 2147483647, not ${seed}.`,
      { status: 400 },
    )
  }
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
    throw new HiveSyncError('invalid_demo_options', 'Demo data needs now to be a valid Date.', {
      status: 400,
    })
  }
  return options
}
