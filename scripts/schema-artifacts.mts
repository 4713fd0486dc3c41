// `npm run db:artifacts`: migrates a throwaway embedded database from scratch and rewrites
// shared/database.types.ts and db/schema.sql from it. `--check` compares instead of writing and
// exits 1 when either file is out of date (CI runs the check).

import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'

import { findFreePort, startEmbeddedPostgres } from '../local/embedded-postgres.ts'
import { migrateDatabase } from '../local/migrate.ts'
import { repoRoot } from '../local/paths.ts'
import { dumpSchema, generateTypes, schemaDumpPath, typesPath } from '../local/schema-artifacts.ts'

async function main(): Promise<void> {
  const check = process.argv.includes('--check')
  const typesOnly = process.argv.includes('--types-only')

  const server = await startEmbeddedPostgres({
    dir: mkdtempSync(join(tmpdir(), 'hivesync-artifacts-')),
    port: await findFreePort(),
    persistent: false,
  })

  try {
    await migrateDatabase(server.url)
    const artifacts: Array<[string, string]> = [[typesPath, await generateTypes(server.url)]]
    if (!typesOnly) artifacts.push([schemaDumpPath, await dumpSchema(server.url)])

    let stale = 0
    for (const [path, content] of artifacts) {
      const name = relative(repoRoot, path)
      if (!check) {
        mkdirSync(dirname(path), { recursive: true })
        writeFileSync(path, content)
        console.log(`wrote ${name}`)
      } else if (readIfPresent(path) !== content) {
        stale += 1
        console.error(`${name} is out of date with the migrations: run npm run db:artifacts`)
      }
    }
    process.exitCode = stale > 0 ? 1 : 0
  } finally {
    await server.stop()
  }
}

function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

await main()
