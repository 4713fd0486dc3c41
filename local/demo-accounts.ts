// The local stack's known accounts: one messaging admin and a few demo users with fixed ids, so
// docs, scripts and the admin UI can refer to them. Created only in local mode, never against a
// database the stack does not own; creating them again changes nothing. Also signs access tokens
// for them with the local JWT secret, as Supabase Auth would.

import { SignJWT } from 'jose'

import type { Sql } from '../functions/_shared/db.ts'

export interface DemoAccount {
  id: string
  email: string
  plan: 'free' | 'trial' | 'paid'
}

export const demoAdmin: DemoAccount = {
  id: 'a0000000-0000-4000-8000-000000000001',
  email: 'admin@hivesync.local',
  plan: 'paid',
}

export const demoUsers: readonly DemoAccount[] = [
  { id: 'd0000000-0000-4000-8000-000000000001', email: 'paid.user@hivesync.local', plan: 'paid' },
  { id: 'd0000000-0000-4000-8000-000000000002', email: 'trial.user@hivesync.local', plan: 'trial' },
  { id: 'd0000000-0000-4000-8000-000000000003', email: 'free.user@hivesync.local', plan: 'free' },
]

export async function ensureDemoAccounts(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    for (const account of [demoAdmin, ...demoUsers]) {
      await tx`
        insert into auth.users (id, email, aud, role)
        values (${account.id}, ${account.email}, 'authenticated', 'authenticated')
        on conflict (id) do nothing
      `
      // A trial user's trial runs for two more weeks from the first start.
      await tx`
        update public.users set
          plan = ${account.plan},
          trial_ends_at = case when ${account.plan} = 'trial'
            then coalesce(trial_ends_at, now() + interval '14 days') else trial_ends_at end
        where id = ${account.id} and plan is distinct from ${account.plan}
      `
    }
    await tx`insert into public.admins (user_id) values (${demoAdmin.id}) on conflict do nothing`
  })
}

/** An access token like Supabase Auth issues, signed with the HS256 secret. */
export function signAccessToken(
  secret: string,
  account: { id: string; email?: string },
  options: { expiresInSeconds?: number; now?: Date; issuer?: string } = {},
): Promise<string> {
  const issuedAt = Math.floor((options.now ?? new Date()).getTime() / 1000)
  const token = new SignJWT({ role: 'authenticated', email: account.email, aal: 'aal1' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(account.id)
    .setAudience('authenticated')
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + (options.expiresInSeconds ?? 3600))
  if (options.issuer) token.setIssuer(options.issuer)
  return token.sign(new TextEncoder().encode(secret))
}
