// Brings a database to the current schema: first what Supabase itself would have provided (only
// where missing), then our migrations through the Supabase CLI, exactly as production is migrated.
// Running it again on a migrated database changes nothing.

import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'

import { HiveSyncError } from '../shared/errors.ts'
import { repoRoot } from './paths.ts'

const run = promisify(execFile)

export const baselinePath = join(repoRoot, 'local', 'supabase-baseline.sql')
export const supabaseCli = join(repoRoot, 'node_modules', '.bin', 'supabase')

export async function migrateDatabase(url: string): Promise<void> {
  await applySupabaseBaseline(url)
  await applyMigrations(url)
}

export async function applySupabaseBaseline(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    await sql.unsafe(readFileSync(baselinePath, 'utf8'))
  } catch (cause) {
    throw new HiveSyncError(
      'local_db_baseline_failed',
      `Could not create Supabase's baseline (roles, auth schema, grants) in the database: ` +
        `${(cause as Error).message}. The connecting user needs to be a superuser or the owner ` +
        `of the database.`,
      { cause },
    )
  } finally {
    await sql.end()
  }
}

/** `projectDir` holds the supabase/ folder; other than in tests it is this checkout. */
export async function applyMigrations(url: string, projectDir = repoRoot): Promise<void> {
  const args = ['migration', 'up', `--remote=${cliUrl(url)}`, '--yes', '--workdir', projectDir]
  try {
    await run(supabaseCli, args, {
      cwd: projectDir,
      env: { ...process.env, SUPABASE_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' },
    })
  } catch (cause) {
    const output = [(cause as { stderr?: string }).stderr, (cause as { stdout?: string }).stdout]
      .filter(Boolean)
      .join('\n')
      .trim()
    throw new HiveSyncError(
      'local_db_migration_failed',
      `A migration in supabase/migrations failed, and the database stays at the last migration ` +
        `that applied. Fix the migration, then run the same command again. The Supabase CLI ` +
        `said: ${output || (cause as Error).message}`,
      { cause },
    )
  }
}

/** The CLI speaks TLS by default; a local server has none. */
function cliUrl(url: string): string {
  const parsed = new URL(url)
  const host = parsed.hostname
  if (!parsed.searchParams.has('sslmode') && (host === '127.0.0.1' || host === 'localhost')) {
    parsed.searchParams.set('sslmode', 'disable')
  }
  return parsed.toString()
}
