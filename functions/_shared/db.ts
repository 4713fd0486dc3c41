// How functions talk to Postgres: postgres.js over SUPABASE_DB_URL, with no prepared statements
// and only transaction-scoped state, so the same code works behind Supabase's transaction-mode
// pooler. Requests made for a person run inside a transaction that carries their JWT claims and
// role, exactly as PostgREST does it, so row-level security applies even if a handler errs.

import postgres from 'postgres'

export type Sql = postgres.Sql
export type Tx = postgres.TransactionSql

export type DatabaseRole = 'anon' | 'authenticated' | 'service_role'

export interface Claims {
  role: DatabaseRole
  sub?: string
  [claim: string]: unknown
}

const databaseRoles: ReadonlySet<string> = new Set(['anon', 'authenticated', 'service_role'])

export function connect(url: string, options: { max?: number } = {}): Sql {
  return postgres(url, {
    max: options.max ?? 5,
    prepare: false,
    idle_timeout: 20,
    connect_timeout: 10,
    onnotice: () => {},
    types: { bigint: bigintAsNumber },
  })
}

// bigint ids and counts come back as numbers: identities and counts here stay far below 2^53, and
// numbers serialise to JSON as the API promises.
const bigintAsNumber = {
  to: 20,
  from: [20],
  serialize: (value: number | bigint) => String(value),
  parse: (value: string) => Number(value),
}

/** Runs `work` in one transaction as the caller: their claims visible to auth.uid(), their role. */
export function withClaims<T>(sql: Sql, claims: Claims, work: (tx: Tx) => Promise<T>): Promise<T> {
  // The role is interpolated into a setting, never into SQL text, but only known roles are allowed
  // so a forged claim cannot name a privileged one.
  if (!databaseRoles.has(claims.role)) throw new Error(`unknown database role ${claims.role}`)

  return sql.begin(async (tx) => {
    await tx`
      select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true),
             set_config('role', ${claims.role}, true)
    `
    return work(tx)
  }) as Promise<T>
}
