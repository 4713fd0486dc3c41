// A fingerprint of everything the baseline and migrations define (columns, constraints, indexes,
// policies, grants, functions, triggers, roles, migration history), to show that running the
// migrations again changes nothing.

import type { Sql } from '../../functions/_shared/db.ts'

export async function catalogFingerprint(sql: Sql): Promise<string[]> {
  const rows = await sql<{ entry: string }[]>`
    select entry from (
      select format('column %s.%s.%s %s %s %s', table_schema, table_name, column_name, data_type,
                    is_nullable, column_default) as entry
      from information_schema.columns where table_schema in ('public', 'auth', 'extensions')
      union all
      select format('constraint %s %s', conrelid::regclass, pg_get_constraintdef(oid))
      from pg_constraint where connamespace in ('public'::regnamespace, 'auth'::regnamespace)
      union all
      select format('index %s', indexdef) from pg_indexes where schemaname in ('public', 'auth')
      union all
      select format('policy %s %s %s %s %s %s', tablename, policyname, cmd, roles, qual, with_check)
      from pg_policies
      union all
      select format('acl %s %s %s', oid::regclass, relacl, relrowsecurity)
      from pg_class where relnamespace in ('public'::regnamespace, 'auth'::regnamespace)
      union all
      select format('function %s %s %s', p.oid::regprocedure, md5(p.prosrc), p.proacl)
      from pg_proc p where p.pronamespace in ('public'::regnamespace, 'auth'::regnamespace)
      union all
      select format('trigger %s %s', tgrelid::regclass, tgname) from pg_trigger where not tgisinternal
      union all
      select format('role %s %s %s', rolname, rolinherit, rolbypassrls) from pg_roles
      where rolname in ('anon', 'authenticated', 'service_role')
      union all
      select format('extension %s %s', extname, extnamespace::regnamespace) from pg_extension
      union all
      select format('migration %s', version) from supabase_migrations.schema_migrations
      union all
      select format('settings rows %s', count(*)) from public.messaging_settings
    ) entries
    order by entry
  `
  return rows.map((row) => row.entry)
}
