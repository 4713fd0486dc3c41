import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

import {
  dumpSchema,
  generateTypes,
  schemaDumpPath,
  typesPath,
} from '../../local/schema-artifacts.ts'
import { useTestDatabase } from '../support/database.ts'

const db = useTestDatabase()

// Needs pg_dump from Debian's postgresql-client-15.
describe('committed schema artifacts', () => {
  it('shared/database.types.ts matches the types generated from the migrations', async () => {
    expect(await generateTypes(db.url)).toBe(readFileSync(typesPath, 'utf8'))
  })

  it('db/schema.sql matches a dump of the migrated schema', async () => {
    expect(await dumpSchema(db.url)).toBe(readFileSync(schemaDumpPath, 'utf8'))
  })
})
