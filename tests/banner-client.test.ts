// The banner client with a real supabase-js client against the local server over HTTP.

import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import ws from 'ws'

import { connect, type Sql } from '../functions/_shared/db.ts'
import { startApiServer, type ApiServer } from '../local/server.ts'
import { dismissBanner, fetchActiveBanners } from '../shared/banner-client.ts'
import { HiveSyncError } from '../shared/errors.ts'
import { otherJwtSecret, testConfig, tokenFor } from './support/api-client.ts'
import { useTestDatabase } from './support/database.ts'
import { createDelivery, createMessage, createUser, type UserRow } from './support/fixtures.ts'

const db = useTestDatabase()

let sql: Sql
let server: ApiServer
let reader: UserRow
let banner: { id: number }
let otherBanner: { id: number }

function clientWith(token: string): SupabaseClient {
  return createClient(server.url, 'local-anon-key', {
    accessToken: async () => token,
    realtime: { transport: ws as never },
  })
}

beforeAll(async () => {
  sql = connect(db.url, { max: 4 })
  server = await startApiServer({ sql, config: testConfig() }, { port: 0 })

  reader = await createUser(db.sql)
  const someoneElse = await createUser(db.sql)
  banner = await createMessage(db.sql, { status: 'sent', channel: 'in_app', subject: 'Hello' })
  otherBanner = await createMessage(db.sql, {
    status: 'sent',
    channel: 'in_app',
    subject: 'Theirs',
  })
  await createDelivery(db.sql, { message_id: banner.id, user_id: reader.id, channel: 'in_app' })
  await createDelivery(db.sql, {
    message_id: otherBanner.id,
    user_id: someoneElse.id,
    channel: 'in_app',
  })
})

afterAll(async () => {
  await server?.close()
  await sql?.end({ timeout: 5 })
})

describe('the banner client', () => {
  it('fetches the user’s banners and dismisses one', async () => {
    const supabase = clientWith(await tokenFor(reader))

    const banners = await fetchActiveBanners(supabase)
    expect(banners).toEqual([
      expect.objectContaining({
        id: banner.id,
        subject: 'Hello',
        body_html: '<p>A <strong>body</strong>.</p>',
      }),
    ])

    const dismissal = await dismissBanner(supabase, banner.id)
    expect(dismissal.message_id).toBe(banner.id)
    expect(await fetchActiveBanners(supabase)).toEqual([])
  })

  it('throws the API’s error code for a banner of someone else', async () => {
    const supabase = clientWith(await tokenFor(reader))
    const error = await dismissBanner(supabase, otherBanner.id).catch((error: unknown) => error)
    expect(error).toBeInstanceOf(HiveSyncError)
    expect(error).toMatchObject({ code: 'message_not_found', status: 404 })
  })

  it('throws invalid_token for a token the server does not accept', async () => {
    const supabase = clientWith(await tokenFor(reader, { secret: otherJwtSecret }))
    const error = await fetchActiveBanners(supabase).catch((error: unknown) => error)
    expect(error).toMatchObject({ code: 'invalid_token', status: 401 })
  })

  it('throws request_failed when the server cannot be reached', async () => {
    const unreachable = createClient('http://127.0.0.1:9', 'local-anon-key', {
      accessToken: async () => 'token',
      realtime: { transport: ws as never },
    })
    const error = await fetchActiveBanners(unreachable).catch((error: unknown) => error)
    expect(error).toMatchObject({ code: 'request_failed' })
  })
})
