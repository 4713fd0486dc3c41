import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, describe, expect, it } from 'vitest'

import { HiveSyncError } from '../shared/errors.ts'
import { findFreePort, startEmbeddedPostgres } from '../local/embedded-postgres.ts'
import { applyMigrations, applySupabaseBaseline } from '../local/migrate.ts'
import { repoRoot } from '../local/paths.ts'
import { withFreshDatabase } from './support/database.ts'

const scratch: string[] = []

function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  chmodSync(dir, 0o755)
  scratch.push(dir)
  return dir
}

afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true })
})

async function failure(promise: Promise<unknown>): Promise<HiveSyncError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(HiveSyncError)
  return error as HiveSyncError
}

describe('starting the embedded database', () => {
  it('says which variable to change when the port is taken by another program', async () => {
    const port = await findFreePort()
    const squatter: Server = createServer()
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve))

    try {
      const error = await failure(
        startEmbeddedPostgres({ dir: join(scratchDir('hivesync-busy-'), 'db'), port }),
      )
      expect(error.code).toBe('local_db_port_busy')
      expect(error.message).toContain(`Port ${port}`)
      expect(error.message).toContain('HIVESYNC_DB_PORT')
    } finally {
      squatter.close()
    }
  })

  it('recovers from a lock file left by a server that was killed', async () => {
    const dir = join(scratchDir('hivesync-stale-'), 'db')
    const port = await findFreePort()
    const first = await startEmbeddedPostgres({ dir, port })
    const lockFile = readFileSync(join(dir, 'postmaster.pid'), 'utf8')
    await first.stop()

    // A process that has exited: its PID in the lock file is what a killed server leaves behind.
    const gone = spawnSync('true').pid
    writeFileSync(join(dir, 'postmaster.pid'), lockFile.replace(/^\d+/, String(gone)))

    const second = await startEmbeddedPostgres({ dir, port })
    try {
      expect(second.adopted).toBe(false)
      const sql = postgres(second.url, { max: 1 })
      const [row] = await sql`select 1 as ok`
      await sql.end()
      expect(row!.ok).toBe(1)
    } finally {
      await second.stop()
    }
    expect(existsSync(join(dir, 'postmaster.pid'))).toBe(false)
  })

  it('names the process to stop when the folder is held by a server on another port', async () => {
    const dir = join(scratchDir('hivesync-locked-'), 'db')
    const port = await findFreePort()
    const server = await startEmbeddedPostgres({ dir, port })

    try {
      const otherPort = await findFreePort()
      const error = await failure(startEmbeddedPostgres({ dir, port: otherPort }))
      const pid = readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]
      expect(error.code).toBe('local_db_locked')
      expect(error.message).toContain(`kill ${pid}`)
      expect(error.message).toContain(`HIVESYNC_DB_PORT=${port}`)
    } finally {
      await server.stop()
    }
  })

  it('adopts the server already running on its own folder and port instead of failing', async () => {
    const dir = join(scratchDir('hivesync-adopt-'), 'db')
    const port = await findFreePort()
    const server = await startEmbeddedPostgres({ dir, port })

    try {
      const again = await startEmbeddedPostgres({ dir, port })
      expect(again).toMatchObject({ adopted: true, url: server.url })
    } finally {
      await server.stop()
    }
  })
})

describe('migrating', () => {
  it('reports a failed migration with what to do, keeping what applied before it', async () => {
    const project = scratchDir('hivesync-broken-')
    cpSync(join(repoRoot, 'supabase'), join(project, 'supabase'), { recursive: true })
    writeFileSync(
      join(project, 'supabase', 'migrations', '29991231000000_broken.sql'),
      'create tabel oops ();\n',
    )

    await withFreshDatabase(async (url) => {
      await applySupabaseBaseline(url)
      const error = await failure(applyMigrations(url, project))
      expect(error.code).toBe('local_db_migration_failed')
      expect(error.message).toContain('Fix the migration')
      expect(error.message).toContain('29991231000000_broken.sql')

      const sql = postgres(url, { max: 1, onnotice: () => {} })
      const [users] = await sql`select to_regclass('public.users') is not null as exists`
      await sql.end()
      expect(users!.exists).toBe(true)
    })
  })
})
