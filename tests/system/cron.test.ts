import { serve, type ServerType } from '@hono/node-server'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { createDrainApp } from '../../functions/drain/app.ts'
import { connect, type Sql } from '../../functions/_shared/db.ts'
import { readDrainConfig } from '../../functions/_shared/pipeline/drain-config.ts'
import { migrateDatabase } from '../../local/migrate.ts'
import { repoRoot } from '../../local/paths.ts'
import {
  installStandIns,
  startCluster,
  startNetWorker,
  type CronCluster,
  type NetWorker,
} from './support/cron-cluster.ts'

const scheduleMigration = join(
  repoRoot,
  'supabase',
  'migrations',
  '20261203200200_drain_schedule.sql',
)

describe('on PostgreSQL 15 with pg_cron, and stand-ins for pg_net and Vault', () => {
  const secret = 'cron-drain-secret-0123456789abcdef'
  let cluster: CronCluster
  let sql: Sql
  let server: ServerType
  let worker: NetWorker
  let drainUrl: string

  beforeAll(async () => {
    cluster = await startCluster({ preloadPgCron: true })
    await installStandIns(cluster.url)
    sql = connect(cluster.url)

    // The function is up and its URL and secret are in Vault before the schedule exists, as an
    // operator sets them up before deploying the migration.
    const config = readDrainConfig(
      { HIVESYNC_DRAIN_SECRET: secret, HIVESYNC_EMAIL_PROVIDER: 'mock' },
      mkdtempSync(join(tmpdir(), 'hivesync-cron-data-')),
    )
    const app = createDrainApp({ sql, config, env: {} })
    drainUrl = await new Promise((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
        resolve(`http://127.0.0.1:${info.port}/drain`),
      )
    })
    await sql`insert into vault.secrets (name, secret) values
      ('hivesync_drain_url', ${drainUrl}), ('hivesync_drain_secret', ${secret})`

    await migrateDatabase(cluster.url)
    worker = startNetWorker(cluster.url)
  })

  afterAll(async () => {
    await worker?.stop()
    await new Promise<void>((done) => (server ? server.close(() => done()) : done()))
    await sql?.end()
    await cluster?.stop()
  })

  it('the migrations schedule the drain every minute and the activity roll-off hourly', async () => {
    const jobs = await sql<
      { jobname: string; schedule: string; command: string; active: boolean }[]
    >`
      select jobname, schedule, command, active from cron.job order by jobname
    `
    expect(jobs.map((job) => job.jobname)).toEqual([
      'hivesync-drain',
      'hivesync-user-activity-roll-off',
    ])
    expect(jobs[1]).toMatchObject({ schedule: '17 * * * *', active: true })
    expect(jobs[0]).toMatchObject({
      jobname: 'hivesync-drain',
      schedule: '* * * * *',
      active: true,
    })
    expect(jobs[0]!.command).toContain('net.http_post')
    expect(jobs[0]!.command).not.toContain(secret)
  })

  it(
    'runs at the next minute boundary and calls the drain URL with the bearer secret',
    { timeout: 100_000 },
    async () => {
      await sql`
      insert into auth.users (id, email, aud, role)
      values (gen_random_uuid(), 'cron@example.com', 'authenticated', 'authenticated')
    `
      const [message] = await sql<{ id: number }[]>`
      insert into public.messages (subject, body_markdown, channel)
      values ('Scheduled', 'Sent by the **schedule**.', 'email') returning id
    `
      await sql`select public.queue_message(${message!.id})`

      const deadline = Date.now() + 75_000
      let status = 'queued'
      while (status !== 'sent' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 1_000))
        const [row] = await sql<
          { status: string }[]
        >`select status from public.messages where id = ${message!.id}`
        status = row!.status
      }
      expect(status).toBe('sent')

      const [run] = await sql<{ status: string }[]>`
      select d.status from cron.job_run_details d join cron.job j using (jobid)
      where j.jobname = 'hivesync-drain' order by d.start_time limit 1
    `
      expect(run!.status).toBe('succeeded')
      // The drain commits the send before it answers, so the stand-in records the answer a moment
      // after the message reads sent.
      type Call = {
        url: string
        headers: Record<string, string>
        status_code: number
        content: string
      }
      let call: Call | undefined
      while (!call && Date.now() < deadline + 15_000) {
        ;[call] = await sql<Call[]>`
          select q.url, q.headers, r.status_code, r.content
          from net.http_request_queue q join net._http_response r using (id)
          order by q.id desc limit 1
        `
        if (!call) await new Promise((resolve) => setTimeout(resolve, 500))
      }
      expect(call!.url).toBe(drainUrl)
      expect(call!.headers.Authorization).toBe(`Bearer ${secret}`)
      expect(call!.status_code).toBe(200)
      expect(JSON.parse(call!.content)).toMatchObject({ fanned_out: 1, sent: 1 })
    },
  )
})

describe('on PostgreSQL 15 without pg_cron loaded', () => {
  let cluster: CronCluster

  beforeAll(async () => {
    cluster = await startCluster({ preloadPgCron: false })
  })
  afterAll(() => cluster?.stop())

  it('every migration still applies, and the schedule says in a notice why it is skipped', async () => {
    await migrateDatabase(cluster.url)

    const notices: string[] = []
    const sql = postgres(cluster.url, {
      max: 1,
      onnotice: (notice) => notices.push(notice.message),
    })
    try {
      await sql.unsafe(readFileSync(scheduleMigration, 'utf8'))
      const [cron] =
        await sql`select count(*)::integer as n from pg_extension where extname = 'pg_cron'`
      expect(cron!.n).toBe(0)
    } finally {
      await sql.end()
    }
    expect(notices).toHaveLength(1)
    expect(notices[0]).toMatch(/^The drain is not scheduled in the database: missing pg_cron/)
    expect(notices[0]).toContain('pg_net')
    expect(notices[0]).toContain('Vault')
  })
})
