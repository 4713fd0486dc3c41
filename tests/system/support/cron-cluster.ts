// A private PostgreSQL 15 cluster from Debian's packages with pg_cron preloaded, for the schedule's
// system test: initdb in a temporary folder (as the postgres OS user when running as root), a free
// port, trust authentication on 127.0.0.1 only, and pg_cron running its jobs in background
// workers in the cluster's `postgres` database. Supabase's pg_net and Vault are not packaged for
// Debian, so stand-ins with the same names and shapes are installed (installStandIns): Vault's
// decrypted_secrets view, and net.http_post, which queues the request exactly as pg_net does;
// startNetWorker then plays pg_net's background worker and performs the queued requests over HTTP.

import { execFile } from 'node:child_process'
import { chownSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'

import { findFreePort } from '../../../local/embedded-postgres.ts'

const run = promisify(execFile)
export const debianPostgresBin = '/usr/lib/postgresql/15/bin'

export interface CronCluster {
  url: string
  stop(): Promise<void>
}

export async function startCluster(options: { preloadPgCron: boolean }): Promise<CronCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'hivesync-cron-cluster-'))
  const port = await findFreePort()
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres'])
    const { stdout: group } = await run('id', ['-g', 'postgres'])
    chownSync(dir, Number(stdout.trim()), Number(group.trim()))
  }
  const asPostgres = (command: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(debianPostgresBin, command), ...args])
      : run(join(debianPostgresBin, command), args)

  const data = join(dir, 'data')
  await asPostgres('initdb', [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-sync',
  ])
  const settings = [
    `port=${port}`,
    "listen_addresses='127.0.0.1'",
    `unix_socket_directories='${dir}'`,
    'fsync=off',
    ...(options.preloadPgCron
      ? [
          "shared_preload_libraries='pg_cron'",
          "cron.database_name='postgres'",
          'cron.use_background_workers=on',
        ]
      : []),
  ]
  await asPostgres('pg_ctl', [
    '-D',
    data,
    '-l',
    join(dir, 'server.log'),
    '-w',
    '-o',
    settings.map((setting) => `-c ${setting}`).join(' '),
    'start',
  ])

  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Vault's view and pg_net's http_post, as far as the drain schedule uses them. */
export async function installStandIns(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    await sql.unsafe(`
      create schema vault;
      create table vault.secrets (name text primary key, secret text not null);
      create view vault.decrypted_secrets as
        select name, secret as decrypted_secret from vault.secrets;

      create schema net;
      create table net.http_request_queue (
        id bigint generated always as identity primary key,
        method text not null,
        url text not null,
        headers jsonb not null,
        body jsonb,
        timeout_milliseconds integer not null,
        created_at timestamptz not null default now()
      );
      create table net._http_response (
        id bigint primary key,
        status_code integer,
        content text,
        created timestamptz not null default now()
      );
      create function net.http_post(
        url text,
        body jsonb default '{}'::jsonb,
        params jsonb default '{}'::jsonb,
        headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
        timeout_milliseconds integer default 5000
      ) returns bigint
      language sql
      as $$
        insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
        values ('POST', url, headers, body, timeout_milliseconds)
        returning id
      $$;
    `)
  } finally {
    await sql.end()
  }
}

export interface NetWorker {
  stop(): Promise<void>
}

/** Performs queued requests like pg_net's worker, and stores each response beside it. */
export function startNetWorker(url: string): NetWorker {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  let stopped = false

  const loop = (async () => {
    while (!stopped) {
      const queued = await sql<
        {
          id: number
          url: string
          headers: Record<string, string>
          body: unknown
          timeout_milliseconds: number
        }[]
      >`
        select q.id, q.url, q.headers, q.body, q.timeout_milliseconds
        from net.http_request_queue q
        where not exists (select 1 from net._http_response r where r.id = q.id)
        order by q.id
      `
      for (const request of queued) {
        let status: number | null = null
        let content: string
        try {
          const response = await fetch(request.url, {
            method: 'POST',
            headers: request.headers,
            body: JSON.stringify(request.body ?? {}),
            signal: AbortSignal.timeout(Math.max(request.timeout_milliseconds, 30_000)),
          })
          status = response.status
          content = await response.text()
        } catch (error) {
          content = String(error)
        }
        await sql`
          insert into net._http_response (id, status_code, content)
          values (${request.id}, ${status}, ${content})
        `
      }
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
  })()

  return {
    async stop() {
      stopped = true
      await loop.catch(() => {})
      await sql.end()
    },
  }
}
