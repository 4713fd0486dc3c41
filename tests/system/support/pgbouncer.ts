// Debian's pgbouncer in transaction pooling mode in front of the test server, as Supabase's pooler
// (port 6543) sits in front of a project's database: no session state survives a transaction and
// each transaction may land on another server connection. It runs on a free port with its
// configuration in a temporary folder; as root it drops to the postgres user, which may read it.
// It logs to standard error, which is kept to explain a failed start.

import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect as connectTcp } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { findFreePort } from '../../../local/embedded-postgres.ts'

export const pgbouncerPath = '/usr/sbin/pgbouncer'

export interface Pgbouncer {
  port: number
  /** The same database, reached through the pooler. */
  urlFor(databaseUrl: string): string
  stop(): Promise<void>
}

export async function startPgbouncer(serverUrl: string): Promise<Pgbouncer> {
  const server = new URL(serverUrl)
  const user = decodeURIComponent(server.username)
  const password = decodeURIComponent(server.password)
  const port = await findFreePort()
  const dir = mkdtempSync(join(tmpdir(), 'hivesync-pgbouncer-'))

  writeFileSync(join(dir, 'userlist.txt'), `"${user}" "${password}"\n`)
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      // Any database name is forwarded to the same server, so each test file's clone works.
      `* = host=${server.hostname} port=${server.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = plain',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      'max_client_conn = 500',
      'default_pool_size = 4',
      'ignore_startup_parameters = extra_float_digits,options',
      '',
    ].join('\n'),
  )
  chmodSync(dir, 0o755)

  const runAsRoot = process.getuid?.() === 0
  const child = spawn(
    pgbouncerPath,
    [...(runAsRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))

  try {
    await waitForPort(port, child, 10_000)
  } catch (error) {
    child.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`pgbouncer did not start: ${(error as Error).message}\n${stderr}`)
  }

  return {
    port,
    urlFor(databaseUrl) {
      const url = new URL(databaseUrl)
      url.hostname = '127.0.0.1'
      url.port = String(port)
      return url.toString()
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`exited with ${child.exitCode}`))
      const socket = connectTcp({ host: '127.0.0.1', port })
      socket.once('connect', () => {
        socket.destroy()
        resolve()
      })
      socket.once('error', () => {
        socket.destroy()
        if (Date.now() > deadline) reject(new Error(`port ${port} not open after ${timeoutMs} ms`))
        else setTimeout(attempt, 50)
      })
    }
    attempt()
  })
}
