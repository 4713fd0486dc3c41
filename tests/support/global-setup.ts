// Once per test run: start (or adopt) the database server, and build a template database migrated
// to the current schema. The template's name carries a hash of the baseline and migrations, so an
// unchanged schema is reused across runs and a changed one gets a fresh template.

import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import type { TestProject } from 'vitest/node'

import { startLocalServer, type LocalDatabase } from '../../local/database.ts'
import { baselinePath, migrateDatabase } from '../../local/migrate.ts'
import { repoRoot } from '../../local/paths.ts'

let server: LocalDatabase | undefined

export async function setup(project: TestProject): Promise<void> {
  server = await startLocalServer()
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
