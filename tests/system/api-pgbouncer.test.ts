// The API through Debian's pgbouncer in transaction pooling mode, as on Supabase's pooler: the
// admin scenarios of the main suite, and the user routes including the proof that requests run as
// the caller even though consecutive transactions may use different server connections.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'

import { asCaller } from '../../functions/_shared/app.ts'
import { describeAdminApi } from '../support/admin-api-scenarios.ts'
import { createApi, tokenFor, type Api } from '../support/api.ts'
import { useTestDatabase } from '../support/database.ts'
import { createDelivery, createMessage, createUser } from '../support/fixtures.ts'
import { startPgbouncer, type Pgbouncer } from './support/pgbouncer.ts'

const db = useTestDatabase()
let pgbouncer: Pgbouncer

beforeAll(async () => {
  pgbouncer = await startPgbouncer(inject('serverUrl'))
})

afterAll(async () => {
  await pgbouncer?.stop()
})

describe('through pgbouncer (transaction mode)', () => {
  describeAdminApi({ url: () => pgbouncer.urlFor(db.url), sql: () => db.sql })

  describe('user routes', () => {
    let api: Api

    beforeAll(() => {
      api = createApi(pgbouncer.urlFor(db.url))
      api.user.get('/probe', async (c) =>
        c.json(
          await asCaller(api.sql, c, async (tx) => {
            const [who] = await tx<{ current_user: string }[]>`select current_user`
            const rows = await tx<
              { user_id: string }[]
            >`select user_id from public.message_deliveries`
            return {
              current_user: who!.current_user,
              users: [...new Set(rows.map((row) => row.user_id))],
            }
          }),
        ),
      )
    })

    afterAll(async () => {
      await api?.close()
    })

    it('serves banners, dismisses them, and runs every request as its caller', async () => {
      const reader = await createUser(db.sql)
      const other = await createUser(db.sql)
      const banner = await createMessage(db.sql, { status: 'sent', channel: 'in_app' })
      await createDelivery(db.sql, { message_id: banner.id, user_id: reader.id, channel: 'in_app' })
      await createDelivery(db.sql, { message_id: banner.id, user_id: other.id, channel: 'in_app' })
      const token = await tokenFor(reader)

      // Many requests at once, so transactions interleave on the pooler's server connections.
      const probes = await Promise.all(
        Array.from({ length: 20 }, async (_, index) => {
          const caller = index % 2 === 0 ? reader : other
          const response = await api.call(api.user, 'GET', '/user/probe', {
            token: await tokenFor(caller),
          })
          return { caller: caller.id, body: response.body }
        }),
      )
      for (const probe of probes) {
        expect(probe.body).toEqual({ current_user: 'authenticated', users: [probe.caller] })
      }

      const active = await api.call(api.user, 'GET', '/user/messages/active', { token })
      expect(active.body.items.map((item: { id: number }) => item.id)).toEqual([banner.id])
      const dismissed = await api.call(api.user, 'POST', `/user/messages/${banner.id}/dismiss`, {
        token,
      })
      expect(dismissed.status).toBe(200)
      const after = await api.call(api.user, 'GET', '/user/messages/active', { token })
      expect(after.body.items).toEqual([])
    })
  })
})
