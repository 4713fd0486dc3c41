// `npm run bench [-- --users N] [-- --part audience|pipeline|all] [-- --seed S]`
// Starts a throwaway embedded PostgreSQL tuned for the load, creates and migrates a database of
// its own (hivesync_bench, never the development database), generates the demo data once, then
// runs the chosen parts; each writes JSON and Markdown under bench/results/. A part is an entry
// of `parts` below: add one there to extend the benchmark.

import { mkdirSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import postgres from 'postgres'

import { connect } from '../functions/_shared/db.ts'
import { log } from '../functions/_shared/log.ts'
import { generateDemoData } from '../local/demo-data.ts'
import { embeddedUrl, findFreePort, startEmbeddedPostgres } from '../local/embedded-postgres.ts'
import { migrateDatabase } from '../local/migrate.ts'
import { dataDir } from '../local/paths.ts'
import { HiveSyncError } from '../shared/errors.ts'
import { audiencePart } from './audience.ts'
import { describeEnvironment, round, type BenchPart } from './context.ts'
import { pipelinePart } from './pipeline.ts'

const parts: BenchPart[] = [audiencePart, pipelinePart]

// Sized for a 2-core machine with a few GB to spare: the data set (about 5 GB with indexes) mostly
// fits in shared buffers, checkpoints stay out of the bulk load, and JIT is off because compiling a
// plan costs more than it saves on a scan of narrow rows.
const serverFlags = [
  ['shared_buffers', '2GB'],
  ['effective_cache_size', '6GB'],
  ['work_mem', '64MB'],
  ['maintenance_work_mem', '1GB'],
  ['max_wal_size', '16GB'],
  ['checkpoint_timeout', '30min'],
  ['wal_buffers', '64MB'],
  ['max_parallel_workers_per_gather', '2'],
  ['jit', 'off'],
].flatMap(([name, value]) => ['-c', `${name}=${value}`])

const benchDatabase = 'hivesync_bench'

async function main(): Promise<void> {
  const options = readOptions(process.argv.slice(2))
  const chosen = options.part === 'all' ? parts : parts.filter((p) => p.name === options.part)

  const root = join(dataDir(), 'bench')
  mkdirSync(root, { recursive: true })
  const server = await startEmbeddedPostgres({
    dir: mkdtempSync(join(root, 'db-')),
    port: await findFreePort(),
    persistent: false,
    postgresFlags: serverFlags,
  })

  try {
    const admin = connect(server.url, { max: 1 })
    await admin.unsafe(`create database ${benchDatabase}`)
    await admin.end()

    const url = embeddedUrl(Number(new URL(server.url).port), benchDatabase)
    log('info', 'migrating benchmark database', { database: benchDatabase })
    await migrateDatabase(url)

    const sql = connect(url, { max: 2 })
    try {
      // Whole seconds, so every p_now derived from it lands on the same instants on every run.
      const now = new Date(Math.floor(Date.now() / 1000) * 1000)
      log('info', 'generating demo data', { users: options.users, seed: options.seed })
      const started = performance.now()
      // The generator reports each step as a notice; logged with the time since the start.
      const generator = postgres(url, {
        max: 1,
        onnotice: (notice) =>
          log('info', 'demo data step', {
            step: notice.message,
            seconds: round((performance.now() - started) / 1000),
          }),
      })
      const summary = await generateDemoData(generator, {
        users: options.users,
        seed: options.seed,
        now,
      }).finally(() => generator.end())
      const seconds = round((performance.now() - started) / 1000)
      log('info', 'demo data generated', { ...summary, seconds })

      const context = {
        sql,
        databaseUrl: url,
        users: options.users,
        seed: options.seed,
        now,
        generation: { ...summary, seconds },
        environment: await describeEnvironment(sql),
      }
      for (const part of chosen) {
        log('info', 'running benchmark part', { part: part.name })
        await part.run(context)
      }
    } finally {
      await sql.end()
    }
  } finally {
    await server.stop()
  }
}

function readOptions(args: string[]): { users: number; seed: number; part: string } {
  const { values } = parseArgs({
    args,
    options: {
      users: { type: 'string', default: '1000000' },
      seed: { type: 'string', default: '1' },
      part: { type: 'string', default: 'all' },
    },
  })
  const users = Number(values.users)
  const seed = Number(values.seed)
  const names = ['all', ...parts.map((p) => p.name)]
  if (!Number.isInteger(users) || users < 1 || users > 10_000_000) {
    throw new HiveSyncError(
      'invalid_bench_options',
      `--users must be 1 to 10000000, not ${values.users}.`,
    )
  }
  if (!Number.isInteger(seed) || seed < 0) {
    throw new HiveSyncError(
      'invalid_bench_options',
      `--seed must be a whole number, not ${values.seed}.`,
    )
  }
  if (!names.includes(values.part)) {
    throw new HiveSyncError(
      'invalid_bench_options',
      `--part must be one of ${names.join(', ')}, not ${values.part}.`,
    )
  }
  return { users, seed, part: values.part }
}

main().catch((error) => {
  console.error(error instanceof HiveSyncError ? error.message : error)
  process.exitCode = 1
})
