// Once per test run: a database server of the run's own, and a template database migrated to the
// current schema that every test file clones. Without SUPABASE_DB_URL the server is a throwaway
// embedded PostgreSQL in a temporary folder on a free port, so test runs never touch the local
// stack's data and several runs can go at once. The template's name carries a hash of the baseline
// and migrations, so on a long-lived server an unchanged schema is migrated only once.

import { createHash } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import type { TestProject } from 'vitest/node'

import { findFreePort, startEmbeddedPostgres } from '../../local/embedded-postgres.ts'
import { baselinePath, migrateDatabase } from '../../local/migrate.ts'
import { repoRoot } from '../../local/paths.ts'

let server: { url: string; stop(): Promise<void> } | undefined

export async function setup(project: TestProject): Promise<void> {
  server = process.env.SUPABASE_DB_URL
    ? { url: process.env.SUPABASE_DB_URL, stop: async () => {} }
    : await startEmbeddedPostgres({
        dir: mkdtempSync(join(tmpdir(), 'hivesync-test-db-')),
        port: await findFreePort(),
        persistent: false,
      })
  const template = `hivesync_tpl_${schemaHash()}`

  const admin = postgres(server.url, { max: 1, onnotice: () => {} })
  try {
    // Two test runs at once must not both build the same template.
    await admin`select pg_advisory_lock(hashtext('hivesync template'))`
    const [existing] = await admin`
      select 1 from pg_database where datname = ${template} and datistemplate
    `
    if (!existing) {
      await admin.unsafe(`drop database if exists ${template} with (force)`)
      await admin.unsafe(`create database ${template}`)
      await migrateDatabase(databaseUrl(server.url, template))
      await admin.unsafe(`alter database ${template} with is_template true allow_connections false`)
    }
    await admin`select pg_advisory_unlock(hashtext('hivesync template'))`
  } finally {
    await admin.end()
  }

  project.provide('serverUrl', server.url)
  project.provide('templateDatabase', template)
}

export async function teardown(): Promise<void> {
  await server?.stop()
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

function schemaHash(): string {
  const migrations = join(repoRoot, 'supabase', 'migrations')
  const hash = createHash('sha256').update(readFileSync(baselinePath))
  for (const file of readdirSync(migrations).sort()) {
    hash.update(file).update(readFileSync(join(migrations, file)))
  }
  return hash.digest('hex').slice(0, 16)
}

declare module 'vitest' {
  export interface ProvidedContext {
    serverUrl: string
    templateDatabase: string
  }
}
