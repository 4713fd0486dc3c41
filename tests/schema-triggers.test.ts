import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'

import { useTestDatabase } from './support/database.ts'
import { createDelivery, createMessage, createUser } from './support/fixtures.ts'

const db = useTestDatabase()

describe('users kept in step with Supabase Auth', () => {
  it('gets a row for every new auth user, with the email copied', async () => {
    const id = randomUUID()
    await db.sql`insert into auth.users (id, email) values (${id}, 'new@example.com')`

    const [user] =
      await db.sql`select email, plan, email_invalid from public.users where id = ${id}`
    expect(user).toEqual({ email: 'new@example.com', plan: 'free', email_invalid: false })
  })

  it('follows an email change made in auth', async () => {
    const user = await createUser(db.sql, { email: 'before@example.com' })
    await db.sql`update auth.users set email = 'after@example.com' where id = ${user.id}`

    const [row] = await db.sql`select email from public.users where id = ${user.id}`
    expect(row!.email).toBe('after@example.com')
  })

  it('loses the account row when the auth user is deleted', async () => {
    const user = await createUser(db.sql)
    await db.sql`delete from auth.users where id = ${user.id}`

    const rows = await db.sql`select 1 from public.users where id = ${user.id}`
    expect(rows).toHaveLength(0)
  })
})

describe('email_invalid', () => {
  it.each([
    ['no at sign', 'not-an-address'],
    ['no domain dot', 'someone@localhost'],
    ['whitespace', 'some one@example.com'],
    ['no address at all', null],
  ])('is set for an address with %s', async (_case, email) => {
    const user = await createUser(db.sql, { email })
    const [row] = await db.sql`select email_invalid from public.users where id = ${user.id}`
    expect(row!.email_invalid).toBe(true)
  })

  it('clears when the address is corrected, even after a provider flagged the old one', async () => {
    const user = await createUser(db.sql, { email: 'typo@exmple.com' })
    await db.sql`update public.users set email_invalid = true where id = ${user.id}`
    await db.sql`update auth.users set email = 'fixed@example.com' where id = ${user.id}`

    const [row] = await db.sql`select email_invalid from public.users where id = ${user.id}`
    expect(row!.email_invalid).toBe(false)
  })

  it('keeps a provider’s verdict while the address stays the same', async () => {
    const user = await createUser(db.sql, { email: 'rejected@example.com' })
    await db.sql`update public.users set email_invalid = true where id = ${user.id}`
    await db.sql`update public.users set plan = 'paid' where id = ${user.id}`

    const [row] = await db.sql`select email_invalid from public.users where id = ${user.id}`
    expect(row!.email_invalid).toBe(true)
  })
})

describe('downgraded_at', () => {
  it('is stamped when a paid account moves to a lower plan', async () => {
    const user = await createUser(db.sql, { plan: 'paid' })
    await db.sql`update public.users set plan = 'free' where id = ${user.id}`

    const [row] = await db.sql`
      select downgraded_at > now() - interval '1 minute' as recent from public.users
      where id = ${user.id}
    `
    expect(row!.recent).toBe(true)
  })

  it('keeps an explicit date written with the plan change', async () => {
    const user = await createUser(db.sql, { plan: 'paid' })
    const when = new Date('2026-11-01T10:00:00Z')
    await db.sql`
      update public.users set plan = 'free', downgraded_at = ${when} where id = ${user.id}
    `

    const [row] = await db.sql`select downgraded_at from public.users where id = ${user.id}`
    expect(row!.downgraded_at).toEqual(when)
  })

  it('is not touched by moves that are not downgrades from paid', async () => {
    const user = await createUser(db.sql, { plan: 'trial' })
    await db.sql`update public.users set plan = 'free' where id = ${user.id}`
    await db.sql`update public.users set plan = 'paid' where id = ${user.id}`

    const [row] = await db.sql`select downgraded_at from public.users where id = ${user.id}`
    expect(row!.downgraded_at).toBeNull()
  })
})

describe('per-message delivery counters', () => {
  const counterColumns = ['queued', 'sending', 'sent', 'failed', 'skipped', 'cancelled'].flatMap(
    (status) => [`in_app_${status}`, `email_${status}`],
  )

  async function countersMatchDeliveries(messageId: number): Promise<void> {
    const [counters] =
      await db.sql`select ${db.sql(counterColumns)} from public.messages where id = ${messageId}`
    const actual = await db.sql<{ key: string; n: number }[]>`
      select channel || '_' || status as key, count(*)::int as n from public.message_deliveries
      where message_id = ${messageId} group by 1
    `
    const expected = Object.fromEntries(counterColumns.map((column) => [column, 0]))
    for (const { key, n } of actual) expected[key] = n
    expect(counters).toEqual(expected)
  }

  it('follow inserts, status changes and deletes of deliveries', async () => {
    const message = await createMessage(db.sql, { status: 'sending', channel: 'both' })
    const users = await Promise.all([1, 2, 3, 4].map(() => createUser(db.sql)))
    for (const user of users) {
      await createDelivery(db.sql, { message_id: message.id, user_id: user.id, channel: 'in_app' })
      await createDelivery(db.sql, { message_id: message.id, user_id: user.id, channel: 'email' })
    }
    await countersMatchDeliveries(message.id)

    await db.sql`
      update public.message_deliveries set status = 'sent', sent_at = now()
      where message_id = ${message.id} and channel = 'email' and user_id = ${users[0]!.id}
    `
    await db.sql`
      update public.message_deliveries set status = 'skipped', error = 'opted out'
      where message_id = ${message.id} and channel = 'email' and user_id = ${users[1]!.id}
    `
    await countersMatchDeliveries(message.id)

    await db.sql`
      delete from public.message_deliveries where message_id = ${message.id} and user_id = ${users[2]!.id}
    `
    await countersMatchDeliveries(message.id)
  })

  it('are not moved by bookkeeping that leaves the status alone', async () => {
    const message = await createMessage(db.sql, { status: 'sending', channel: 'email' })
    const user = await createUser(db.sql)
    await createDelivery(db.sql, { message_id: message.id, user_id: user.id, channel: 'email' })

    await db.sql`
      update public.message_deliveries set attempts = attempts + 1, next_attempt_at = now()
      where message_id = ${message.id}
    `
    const [row] = await db.sql`select email_queued from public.messages where id = ${message.id}`
    expect(row!.email_queued).toBe(1)
  })

  it('are kept when retention deletes old deliveries', async () => {
    const message = await createMessage(db.sql, { status: 'sent', channel: 'in_app' })
    const user = await createUser(db.sql)
    await createDelivery(db.sql, { message_id: message.id, user_id: user.id, channel: 'in_app' })

    await db.sql.begin(async (tx) => {
      await tx`select set_config('hivesync.keep_counters', 'on', true)`
      await tx`delete from public.message_deliveries where message_id = ${message.id}`
    })
    const [row] = await db.sql`select in_app_sent from public.messages where id = ${message.id}`
    expect(row!.in_app_sent).toBe(1)
  })
})
