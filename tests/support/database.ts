// A database of its own for each test file, cloned from the migrated template in a fraction of a
// second. Connected as the server's superuser; tests switch to Supabase roles with withClaims.

import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { afterAll, beforeAll, inject } from 'vitest'

import { connect, type Sql } from '../../functions/_shared/db.ts'
import { databaseUrl } from './global-setup.ts'

export interface TestDatabase {
  url: string
  name: string
  sql: Sql
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject('serverUrl')
  const name = `hivesync_test_${randomBytes(6).toString('hex')}`

  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`create database ${name} template ${inject('templateDatabase')}`)
  } finally {
    await admin.end()
  }

  const url = databaseUrl(serverUrl, name)
  return { url, name, sql: connect(url, { max: 4 }) }
}

export async function dropTestDatabase(database: TestDatabase): Promise<void> {
  await database.sql.end()
  const admin = postgres(inject('serverUrl'), { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`drop database if exists ${database.name} with (force)`)
  } finally {
    await admin.end()
  }
}

/** Registers beforeAll/afterAll hooks and returns a handle whose fields are set once they ran. */
export function useTestDatabase(): TestDatabase {
  const handle = {} as TestDatabase
  beforeAll(async () => Object.assign(handle, await createTestDatabase()))
  afterAll(async () => {
    if ('sql' in handle) await dropTestDatabase(handle)
  })
  return handle
}

/** An empty database (from template0, none of our schema) for the length of `work`. */
export async function withFreshDatabase<T>(work: (url: string) => Promise<T>): Promise<T> {
  const serverUrl = inject('serverUrl')
  const name = `hivesync_fresh_${randomBytes(6).toString('hex')}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name} template template0`)
  try {
    return await work(databaseUrl(serverUrl, name))
  } finally {
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.end()
  }
}
