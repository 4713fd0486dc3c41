import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

import { connect } from '../functions/_shared/db.ts'
import { openLocalDatabase } from '../local/database.ts'
import { findFreePort } from '../local/embedded-postgres.ts'
import { migrateDatabase } from '../local/migrate.ts'
import { repoRoot } from '../local/paths.ts'
import { catalogFingerprint } from './support/catalog.ts'
import { withFreshDatabase } from './support/database.ts'

const migrationFiles = readdirSync(join(repoRoot, 'supabase', 'migrations')).filter((file) =>
  file.endsWith('.sql'),
)

describe('migrations', () => {
  it('apply unchanged on a plain PostgreSQL 15 with only the Supabase baseline', async () => {
    await withFreshDatabase(async (url) => {
      await migrateDatabase(url)

      const sql = connect(url, { max: 1 })
      try {
        const [server] = await sql`select current_setting('server_version_num')::int as version`
        const applied = await sql`select version from supabase_migrations.schema_migrations`
        expect(server!.version).toBeGreaterThanOrEqual(150000)
        expect(server!.version).toBeLessThan(160000)
        expect(applied).toHaveLength(migrationFiles.length)
      } finally {
        await sql.end()
      }
    })
  })

  it('change nothing when applied a second time', async () => {
    await withFreshDatabase(async (url) => {
      await migrateDatabase(url)
      const sql = connect(url, { max: 1 })
      try {
        const before = await catalogFingerprint(sql)
        await migrateDatabase(url)
        expect(await catalogFingerprint(sql)).toEqual(before)
      } finally {
        await sql.end()
      }
    })
  })

  it('enable row-level security and carry a comment on every table in public', async () => {
    await withFreshDatabase(async (url) => {
      await migrateDatabase(url)
      const sql = connect(url, { max: 1 })
      try {
        const tables = await sql`
          select c.relname, c.relrowsecurity, obj_description(c.oid, 'pg_class') as comment
          from pg_class c
          where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
        `
        expect(tables.length).toBeGreaterThanOrEqual(8)
        for (const table of tables) {
          expect(table, table.relname).toMatchObject({ relrowsecurity: true })
          expect(table.comment, `${table.relname} has a comment`).toBeTruthy()
        }
      } finally {
        await sql.end()
      }
    })
  })
})

describe('the local database module', () => {
  it('starts an embedded database, migrates it, and changes nothing on a second run', async () => {
    // Readable by the postgres system user, which the server runs as when tests run as root.
    const dataDir = mkdtempSync(join(tmpdir(), 'hivesync-local-'))
    chmodSync(dataDir, 0o755)
    const env = {
      HIVESYNC_DATA_DIR: dataDir,
      HIVESYNC_DB_PORT: String(await findFreePort()),
    }

    const first = await openLocalDatabase(env)
    let before: string[]
    try {
      const sql = connect(first.url, { max: 1 })
      before = await catalogFingerprint(sql)
      await sql.end()
    } finally {
      await first.stop()
    }

    const second = await openLocalDatabase(env)
    try {
      expect(second.embedded).toBe(true)
      const sql = connect(second.url, { max: 1 })
      expect(await catalogFingerprint(sql)).toEqual(before)
      await sql.end()
    } finally {
      await second.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it('uses SUPABASE_DB_URL instead of an embedded database when it is set', async () => {
    await withFreshDatabase(async (url) => {
      const database = await openLocalDatabase({ SUPABASE_DB_URL: url })
      expect(database).toMatchObject({ url, embedded: false })

      const sql = connect(url, { max: 1 })
      const [row] = await sql`select count(*)::int as n from supabase_migrations.schema_migrations`
      await sql.end()
      expect(row!.n).toBe(migrationFiles.length)
    })
  })
})
