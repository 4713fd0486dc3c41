// The local stack's API server: every function under /functions/v1/<name>/…, as on Supabase, and
// the local-mode accounts and secret that let a developer call it at once.

import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { readFunctionConfig } from '../functions/_shared/config.ts'
import { connect, type Sql } from '../functions/_shared/db.ts'
import {
  demoAdmin,
  demoUsers,
  ensureDemoAccounts,
  signAccessToken,
} from '../local/demo-accounts.ts'
import { createLocalDrain, startDrainScheduler } from '../local/drain-scheduler.ts'
import { startApiServer, type ApiServer } from '../local/server.ts'
import { useTestDatabase } from './support/database.ts'

const db = useTestDatabase()

let sql: Sql
let server: ApiServer

beforeAll(async () => {
  sql = connect(db.url, { max: 4 })
  // Local mode without HIVESYNC_JWT_SECRET: the well-known local secret applies.
  server = await startApiServer(
    { sql, config: readFunctionConfig({}, { localMode: true }) },
    { port: 0 },
  )
  await ensureDemoAccounts(db.sql)
})

afterAll(async () => {
  await server?.close()
  await sql?.end({ timeout: 5 })
})

const localSecret = () => readFunctionConfig({}, { localMode: true }).auth.jwtSecret!

describe('the local API server', () => {
  it('serves the admin function to the demo admin with a token signed by the local secret', async () => {
    const token = await signAccessToken(localSecret(), demoAdmin)
    const response = await fetch(`${server.functionsUrl}/admin/messaging/kill-switch`, {
      headers: { authorization: `Bearer ${token}` },
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ email_disabled: false })
  })

  it('serves the user function to a demo user, who is not an admin', async () => {
    const token = await signAccessToken(localSecret(), demoUsers[0]!)
    const banners = await fetch(`${server.functionsUrl}/user/messages/active`, {
      headers: { authorization: `Bearer ${token}` },
    })
    expect(banners.status).toBe(200)
    expect(await banners.json()).toEqual({ items: [] })

    const admin = await fetch(`${server.functionsUrl}/admin/messaging/messages`, {
      headers: { authorization: `Bearer ${token}` },
    })
    expect(admin.status).toBe(403)
  })

  it('answers an unknown function or path with a 404 in the error shape', async () => {
    for (const path of [
      '/functions/v1/nothing/here',
      '/functions/v1/admin/nothing',
      '/elsewhere',
    ]) {
      const response = await fetch(`${server.url}${path}`)
      expect(response.status, path).toBe(path.includes('/admin/') ? 401 : 404)
      const body = (await response.json()) as { error: { code: string } }
      expect(body.error.code).toBe(path.includes('/admin/') ? 'missing_token' : 'route_not_found')
    }
  })

  it('names the variable to change when its port is taken', async () => {
    const config = readFunctionConfig({}, { localMode: true })
    const error = await startApiServer({ sql, config }, { port: server.port }).catch(
      (error: unknown) => error,
    )
    expect(error).toMatchObject({ code: 'local_api_port_busy' })
    expect((error as Error).message).toContain('HIVESYNC_API_PORT')
  })
})

describe('the demo accounts', () => {
  it('have fixed ids, one admin, and are created only once', async () => {
    await ensureDemoAccounts(db.sql)
    const ids = [demoAdmin, ...demoUsers].map((account) => account.id)
    const users = await db.sql<{ id: string; plan: string }[]>`
      select id, plan from public.users where id = any(${ids}::uuid[]) order by id
    `
    expect(users.map((user) => user.id).sort()).toEqual([...ids].sort())
    expect(users.find((user) => user.id === demoUsers[1]!.id)?.plan).toBe('trial')

    const admins = await db.sql`select user_id from public.admins`
    expect(admins.map((row) => row.user_id)).toEqual([demoAdmin.id])
  })
})

describe('the local stack’s drain', () => {
  it('is served beside the other functions and, called by the scheduler, sends what the admin sent', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'hivesync-local-drain-'))
    chmodSync(folder, 0o755)
    const drain = createLocalDrain(sql, { HIVESYNC_DATA_DIR: folder })
    const stack = await startApiServer(
      { sql, config: readFunctionConfig({}, { localMode: true }) },
      { port: 0, others: [['drain', drain.app]] },
    )

    try {
      await ensureDemoAccounts(db.sql)
      const token = await signAccessToken(localSecret(), demoAdmin)
      const call = async (method: string, path: string, body?: unknown) => {
        const response = await fetch(`${stack.functionsUrl}/admin/messaging${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        })
        expect(response.ok, `${method} ${path} answered ${response.status}`).toBe(true)
        return (await response.json()) as { id: number; status: string }
      }

      const draft = await call('POST', '/compose', {
        subject: 'Local stack check',
        body_markdown: 'Sent through the **local** drain.',
        channel: 'email',
        filters: { plan: 'trial' },
      })
      await call('POST', `/send/${draft.id}`)

      const scheduler = startDrainScheduler({
        url: `${stack.functionsUrl}/drain`,
        secret: drain.secret,
        intervalSeconds: 3600,
      })
      await scheduler.tick()
      await scheduler.tick()
      scheduler.stop()

      expect((await call('GET', `/messages/${draft.id}`)).status).toBe('sent')
      const emails = readdirSync(join(folder, 'outbox')).filter((file) => file.endsWith('.eml'))
      expect(emails).toHaveLength(1)
      const email = readFileSync(join(folder, 'outbox', emails[0]!), 'utf8')
      expect(email).toContain(`To: ${demoUsers[1]!.email}`)
      expect(email).toContain('Subject: Local stack check')
    } finally {
      await stack.close()
      rmSync(folder, { recursive: true, force: true })
    }
  })
})
