// The database every local tool uses: the one at SUPABASE_DB_URL when set, otherwise the embedded
// PostgreSQL in the data folder. Either way it comes back migrated to the current schema.

import { join } from 'node:path'

import { HiveSyncError } from '../shared/errors.ts'
import { startEmbeddedPostgres } from './embedded-postgres.ts'
import { migrateDatabase } from './migrate.ts'
import { dataDir } from './paths.ts'

export const defaultDbPort = 54342

export interface LocalDatabase {
  url: string
  /** True when the database is the embedded one that this checkout owns (local mode). */
  embedded: boolean
  stop(): Promise<void>
}

/** Starts (or adopts) the server without migrating it. */
export async function startLocalServer(env = process.env): Promise<LocalDatabase> {
  if (env.SUPABASE_DB_URL) {
    return { url: env.SUPABASE_DB_URL, embedded: false, stop: async () => {} }
  }

  const server = await startEmbeddedPostgres({ dir: join(dataDir(env), 'db'), port: dbPort(env) })
  return { url: server.url, embedded: true, stop: server.stop }
}

export async function openLocalDatabase(env = process.env): Promise<LocalDatabase> {
  const database = await startLocalServer(env)
  try {
    await migrateDatabase(database.url)
  } catch (error) {
    await database.stop()
    throw error
  }
  return database
}

export function dbPort(env = process.env): number {
  const raw = env.HIVESYNC_DB_PORT
  if (raw === undefined || raw === '') return defaultDbPort

  const port = Number(raw)
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new HiveSyncError(
      'configuration',
      `HIVESYNC_DB_PORT must be a port number between 1 and 65535, not "${raw}".`,
    )
  }
  return port
}
