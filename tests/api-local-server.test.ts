// The local stack's API server: every function under /functions/v1/<name>/…, as on Supabase, and
// the local-mode accounts and secret that let a developer call it at once.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { readFunctionConfig } from '../functions/_shared/config.ts'
import { connect, type Sql } from '../functions/_shared/db.ts'
import {
  demoAdmin,
  demoUsers,
  ensureDemoAccounts,
  signAccessToken,
} from '../local/demo-accounts.ts'
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
