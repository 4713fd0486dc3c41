import { beforeAll, describe, expect, it } from 'vitest'

import { useTestDatabase } from './support/database.ts'
import {
  asAnon,
  asUser,
  createAdmin,
  createDelivery,
  createMessage,
  createUser,
  type UserRow,
} from './support/fixtures.ts'

const db = useTestDatabase()

const publicTables = [
  'users',
  'user_sessions',
  'telemetry_events',
  'messages',
  'message_deliveries',
  'user_message_state',
  'admins',
  'messaging_settings',
  'email_reservations',
]

let alice: UserRow
let bob: UserRow
let admin: UserRow
let bannerForAlice: { id: number }
let bannerForBob: { id: number }

beforeAll(async () => {
  const { sql } = db
  alice = await createUser(sql, { email: 'alice@example.com' })
  bob = await createUser(sql, { email: 'bob@example.com' })
  admin = await createAdmin(sql, { email: 'admin@example.com' })

  bannerForAlice = await createMessage(sql, {
    created_by_admin_id: admin.id,
    status: 'sent',
    filters_json: { plan: 'paid' },
    error_summary: '2 failed: provider_rejected',
  })
  bannerForBob = await createMessage(sql, { created_by_admin_id: admin.id, status: 'sent' })

  await createDelivery(sql, { message_id: bannerForAlice.id, user_id: alice.id, channel: 'in_app' })
  await createDelivery(sql, { message_id: bannerForAlice.id, user_id: alice.id, channel: 'email' })
  await createDelivery(sql, { message_id: bannerForBob.id, user_id: bob.id, channel: 'in_app' })
  await sql`
    insert into public.user_message_state (user_id, message_id)
    values (${bob.id}, ${bannerForBob.id})
  `
  await sql`insert into public.email_reservations (reserved_at, emails) values (now(), 3)`
})

describe('anon', () => {
  it.each(publicTables)('cannot read %s', async (table) => {
    await expect(asAnon(db.sql, (tx) => tx`select * from ${tx(table)}`)).rejects.toThrow(
      /permission denied/,
    )
  })

  it('holds no privilege on any table in public, now or in later migrations', async () => {
    const granted = await db.sql`
      select c.relname, p.privilege
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      cross join unnest(array['select', 'insert', 'update', 'delete', 'truncate']) as p(privilege)
      where n.nspname = 'public' and c.relkind in ('r', 'v', 'm', 'p')
        and has_table_privilege('anon', c.oid, p.privilege)
    `
    expect(granted).toEqual([])
  })

  it('cannot ask whether someone is an admin', async () => {
    await expect(asAnon(db.sql, (tx) => tx`select public.is_admin()`)).rejects.toThrow(
      /permission denied/,
    )
  })
})

describe('a user', () => {
  it('reads their own users row and nobody else’s', async () => {
    const rows = await asUser(db.sql, alice.id, (tx) => tx`select id, email from public.users`)
    expect(rows).toEqual([{ id: alice.id, email: 'alice@example.com' }])
  })

  it('reads their own deliveries only', async () => {
    const rows = await asUser(
      db.sql,
      alice.id,
      (tx) => tx`select user_id, channel from public.message_deliveries order by channel`,
    )
    expect(rows).toEqual([
      { user_id: alice.id, channel: 'email' },
      { user_id: alice.id, channel: 'in_app' },
    ])
  })

  it('sees no message row, so neither filters_json nor error_summary', async () => {
    const rows = await asUser(
      db.sql,
      alice.id,
      (tx) => tx`select filters_json, error_summary from public.messages`,
    )
    expect(rows).toEqual([])
  })

  it('cannot read the admins table or the settings', async () => {
    const admins = await asUser(db.sql, alice.id, (tx) => tx`select * from public.admins`)
    const settings = await asUser(db.sql, alice.id, (tx) => tx`select * from messaging_settings`)
    expect(admins).toEqual([])
    expect(settings).toEqual([])
  })

  it('cannot read the rate budget ledger', async () => {
    const rows = await asUser(db.sql, alice.id, (tx) => tx`select * from email_reservations`)
    expect(rows).toEqual([])
  })

  it('is not an admin', async () => {
    const [row] = await asUser(db.sql, alice.id, (tx) => tx`select public.is_admin() as yes`)
    expect(row!.yes).toBe(false)
  })

  it('cannot read sessions or telemetry, not even their own', async () => {
    await db.sql`
      insert into public.user_sessions (user_id, client, started_at, last_seen_at)
      values (${alice.id}, 'ipad', now(), now())
    `
    const rows = await asUser(db.sql, alice.id, (tx) => tx`select * from public.user_sessions`)
    expect(rows).toEqual([])
  })

  it('dismisses a banner delivered to them by inserting and updating their own state', async () => {
    await asUser(db.sql, alice.id, async (tx) => {
      await tx`
        insert into public.user_message_state (user_id, message_id)
        values (${alice.id}, ${bannerForAlice.id})
      `
      const updated = await tx`
        update public.user_message_state set dismissed = true, dismissed_at = now()
        where message_id = ${bannerForAlice.id}
        returning user_id
      `
      expect(updated).toEqual([{ user_id: alice.id }])
    })
  })

  it('cannot record state for a banner that was not delivered to them', async () => {
    const attempt = asUser(
      db.sql,
      alice.id,
      (tx) => tx`
        insert into public.user_message_state (user_id, message_id)
        values (${alice.id}, ${bannerForBob.id})
      `,
    )
    await expect(attempt).rejects.toThrow(/row-level security/)
  })

  it('cannot record state in another user’s name', async () => {
    const attempt = asUser(
      db.sql,
      alice.id,
      (tx) => tx`
        insert into public.user_message_state (user_id, message_id)
        values (${bob.id}, ${bannerForAlice.id})
      `,
    )
    await expect(attempt).rejects.toThrow(/row-level security/)
  })

  it('cannot see or change another user’s banner state', async () => {
    const changed = await asUser(
      db.sql,
      alice.id,
      (tx) => tx`
        update public.user_message_state set dismissed = true, dismissed_at = now()
        where user_id = ${bob.id}
        returning id
      `,
    )
    expect(changed).toEqual([])

    const [state] = await db.sql`
      select dismissed from public.user_message_state where user_id = ${bob.id}
    `
    expect(state!.dismissed).toBe(false)
  })

  it('cannot write deliveries', async () => {
    const insert = asUser(
      db.sql,
      alice.id,
      (tx) => tx`
        insert into public.message_deliveries (message_id, user_id, channel)
        values (${bannerForBob.id}, ${alice.id}, 'in_app')
      `,
    )
    await expect(insert).rejects.toThrow(/permission denied/)

    const update = asUser(
      db.sql,
      alice.id,
      (tx) => tx`update public.message_deliveries set status = 'failed'`,
    )
    await expect(update).rejects.toThrow(/permission denied/)
  })

  it('cannot flip the kill switch', async () => {
    const changed = await asUser(
      db.sql,
      alice.id,
      (tx) => tx`update public.messaging_settings set email_disabled = true returning id`,
    )
    expect(changed).toEqual([])
  })

  it('cannot compose messages', async () => {
    const attempt = asUser(
      db.sql,
      alice.id,
      (tx) => tx`
        insert into public.messages (created_by_admin_id, subject, channel)
        values (${alice.id}, 'Hi', 'in_app')
      `,
    )
    await expect(attempt).rejects.toThrow(/row-level security/)
  })
})

describe('the admin', () => {
  it('reads every user, message and delivery', async () => {
    const counts = await asUser(db.sql, admin.id, async (tx) => {
      const [users] = await tx`select count(*)::int as n from public.users`
      const [messages] = await tx`select count(*)::int as n from public.messages`
      const [deliveries] = await tx`select count(*)::int as n from public.message_deliveries`
      return [users!.n, messages!.n, deliveries!.n]
    })
    expect(counts).toEqual([3, 2, 3])
  })

  it('reads the exact filters and the error summary', async () => {
    const [row] = await asUser(
      db.sql,
      admin.id,
      (tx) => tx`
        select filters_json, error_summary from public.messages where id = ${bannerForAlice.id}
      `,
    )
    expect(row).toEqual({
      filters_json: { plan: 'paid' },
      error_summary: '2 failed: provider_rejected',
    })
  })

  it('composes a message in their own name only', async () => {
    const [own] = await asUser(
      db.sql,
      admin.id,
      (tx) => tx`
        insert into public.messages (created_by_admin_id, subject, channel)
        values (${admin.id}, 'Hello', 'in_app')
        returning status
      `,
    )
    expect(own!.status).toBe('draft')

    const forged = asUser(
      db.sql,
      admin.id,
      (tx) => tx`
        insert into public.messages (created_by_admin_id, subject, channel)
        values (${alice.id}, 'Hello', 'in_app')
      `,
    )
    await expect(forged).rejects.toThrow(/row-level security/)
  })

  it('cannot move the delivery counters by hand', async () => {
    const attempt = asUser(
      db.sql,
      admin.id,
      (tx) => tx`update public.messages set email_sent = 1000`,
    )
    await expect(attempt).rejects.toThrow(/permission denied/)
  })

  it('reads the rate budget ledger but cannot write it', async () => {
    const rows = await asUser(db.sql, admin.id, (tx) => tx`select emails from email_reservations`)
    expect(rows).toEqual([{ emails: 3 }])
    const attempt = asUser(db.sql, admin.id, (tx) => tx`delete from public.email_reservations`)
    await expect(attempt).rejects.toThrow(/permission denied/)
  })

  it('cannot write deliveries directly', async () => {
    const attempt = asUser(db.sql, admin.id, (tx) => tx`delete from public.message_deliveries`)
    await expect(attempt).rejects.toThrow(/permission denied/)
  })

  it('reads but cannot change another user’s banner state', async () => {
    const rows = await asUser(db.sql, admin.id, (tx) => tx`select user_id from user_message_state`)
    expect(rows.length).toBeGreaterThan(0)

    const attempt = asUser(
      db.sql,
      admin.id,
      (tx) => tx`update public.user_message_state set dismissed = true, dismissed_at = now()`,
    )
    const changed = await attempt
    expect(changed.count).toBe(0)
  })

  it('toggles the kill switch, recorded with who and when', async () => {
    await asUser(
      db.sql,
      admin.id,
      (tx) => tx`update public.messaging_settings set email_disabled = true`,
    )
    const [settings] = await db.sql`select * from public.messaging_settings`
    expect(settings).toMatchObject({ email_disabled: true, email_disabled_changed_by: admin.id })
    expect(settings!.email_disabled_changed_at).toBeInstanceOf(Date)
  })

  it('is recognised by is_admin', async () => {
    const [row] = await asUser(db.sql, admin.id, (tx) => tx`select public.is_admin() as yes`)
    expect(row!.yes).toBe(true)
  })
})
