// Named rows for tests, written as the database superuser (as HiveSync's backend would), and the
// ways to act as Supabase's roles afterwards.

import { randomUUID } from 'node:crypto'

import { withClaims, type Sql, type Tx } from '../../functions/_shared/db.ts'

export interface UserFields {
  email: string | null
  plan: 'free' | 'trial' | 'paid'
  trial_ends_at: Date | null
  downgraded_at: Date | null
  email_opt_out: boolean
  email_bounced: boolean
  email_invalid: boolean
  deleted_at: Date | null
}

export interface UserRow {
  id: string
  email: string | null
}

/** Signs a user up the way Supabase Auth does (auth.users), then sets the account's fields. */
export async function createUser(sql: Sql, fields: Partial<UserFields> = {}): Promise<UserRow> {
  const id = randomUUID()
  const email = fields.email === undefined ? `${id.slice(0, 8)}@example.com` : fields.email
  await sql`insert into auth.users (id, email, aud, role) values (${id}, ${email}, 'authenticated', 'authenticated')`

  const { email: _email, ...rest } = fields
  if (Object.keys(rest).length > 0) {
    await sql`update public.users set ${sql(rest as Record<string, unknown>)} where id = ${id}`
  }
  return { id, email }
}

export async function createAdmin(sql: Sql, fields: Partial<UserFields> = {}): Promise<UserRow> {
  const admin = await createUser(sql, fields)
  await sql`insert into public.admins (user_id) values (${admin.id})`
  return admin
}

export interface MessageFields {
  created_by_admin_id: string
  subject: string
  body_markdown: string
  channel: 'in_app' | 'email' | 'both'
  filters_json: Record<string, unknown>
  status: 'draft' | 'queued' | 'sending' | 'sent' | 'failed' | 'cancelled'
  error_summary: string | null
  expires_at: Date | null
}

export async function createMessage(
  sql: Sql,
  fields: Partial<MessageFields> = {},
): Promise<{ id: number }> {
  const status = fields.status ?? 'draft'
  const [row] = await sql<{ id: number }[]>`
    insert into public.messages (
      created_by_admin_id, subject, body_markdown, channel, filters_json, status, error_summary,
      expires_at, queued_at
    ) values (
      ${fields.created_by_admin_id ?? null}, ${fields.subject ?? 'A subject'},
      ${fields.body_markdown ?? 'A **body**.'}, ${fields.channel ?? 'both'},
      ${sql.json((fields.filters_json ?? {}) as never)}, ${status}, ${fields.error_summary ?? null},
      ${fields.expires_at ?? null}, ${status === 'draft' ? null : new Date()}
    )
    returning id
  `
  return row!
}

export async function createDelivery(
  sql: Sql,
  fields: {
    message_id: number
    user_id: string
    channel: 'in_app' | 'email'
    status?: 'queued' | 'sent' | 'failed' | 'skipped' | 'cancelled'
  },
): Promise<{ id: number }> {
  const status = fields.status ?? (fields.channel === 'in_app' ? 'sent' : 'queued')
  const [row] = await sql<{ id: number }[]>`
    insert into public.message_deliveries (message_id, user_id, channel, status, sent_at)
    values (${fields.message_id}, ${fields.user_id}, ${fields.channel}, ${status},
            ${status === 'sent' ? new Date() : null})
    returning id
  `
  return row!
}

export function asUser<T>(sql: Sql, userId: string, work: (tx: Tx) => Promise<T>): Promise<T> {
  return withClaims(sql, { role: 'authenticated', sub: userId, aud: 'authenticated' }, work)
}

export function asAnon<T>(sql: Sql, work: (tx: Tx) => Promise<T>): Promise<T> {
  return withClaims(sql, { role: 'anon' }, work)
}
