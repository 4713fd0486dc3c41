// What every benchmark part receives, and the helpers they share for timing and reporting.

import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem, type as osType, release } from 'node:os'
import { join } from 'node:path'

import type { Sql } from '../functions/_shared/db.ts'
import type { DemoDataSummary } from '../local/demo-data.ts'
import { repoRoot } from '../local/paths.ts'

export interface BenchContext {
  /** Superuser connection to the benchmark database. */
  sql: Sql
  databaseUrl: string
  users: number
  seed: number
  /** The instant the demo data was generated around; parts pass it as p_now. */
  now: Date
  generation: DemoDataSummary & { seconds: number }
  environment: BenchEnvironment
}

export interface BenchEnvironment {
  commit: string
  machine: { cpu: string; cores: number; memory_gb: number; os: string }
  postgres: string
  node: string
  server_settings: Record<string, string>
}

export interface BenchPart {
  name: string
  run(context: BenchContext): Promise<void>
}

export const resultsDir = join(repoRoot, 'bench', 'results')

export async function describeEnvironment(sql: Sql): Promise<BenchEnvironment> {
  const [{ version }] = (await sql`select version()`) as unknown as [{ version: string }]
  const settings = await sql<{ name: string; setting: string; unit: string | null }[]>`
    select name, setting, unit from pg_settings
    where name in ('shared_buffers', 'work_mem', 'max_parallel_workers_per_gather', 'jit',
                   'max_wal_size', 'maintenance_work_mem', 'effective_cache_size')
    order by name
  `
  const cpu = cpus()
  return {
    commit: gitCommit(),
    machine: {
      cpu: cpu[0]?.model ?? 'unknown',
      cores: cpu.length,
      memory_gb: Math.round(totalmem() / 2 ** 30),
      os: `${osType()} ${release()}`,
    },
    postgres: version,
    node: process.version,
    server_settings: Object.fromEntries(
      settings.map((s) => [s.name, s.unit ? `${s.setting} ${s.unit}` : s.setting]),
    ),
  }
}

function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot }).toString().trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: repoRoot,
    })
    return dirty.length > 0 ? `${head} (with uncommitted changes)` : head
  } catch {
    return 'unknown'
  }
}

/** Milliseconds one call of `work` takes. */
export async function timeMs(work: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint()
  await work()
  return Number(process.hrtime.bigint() - started) / 1e6
}

/** The p-th percentile (0–100) by nearest rank. */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[rank - 1]!
}

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

export function writeResults(name: string, json: unknown, markdown: string): string[] {
  mkdirSync(resultsDir, { recursive: true })
  const jsonPath = join(resultsDir, `${name}.json`)
  const markdownPath = join(resultsDir, `${name}.md`)
  writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`)
  writeFileSync(markdownPath, markdown)
  return [jsonPath, markdownPath]
}
