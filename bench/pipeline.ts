// The pipeline part: the fan-out of a message to every user, timed beside a bare `insert … select`
// of the same rows into a table with the same indexes; then the drain of its emails through a
// zero-latency fake provider over HTTP with the limits lifted, beside a bare claim-and-record loop
// in SQL over the same rows; the latency of every claim over that long drain (p99, and early
// against late to show drift); and the drainer's memory, sampled each second in its own process.

import { spawn } from 'node:child_process'
import { join } from 'node:path'

import { withClaims, type Sql } from '../functions/_shared/db.ts'
import { defaultBatchesInFlight } from '../functions/_shared/pipeline/drain-config.ts'
import { repoRoot } from '../local/paths.ts'
import { startFakeResend } from '../tests/support/fake-resend.ts'
import {
  percentile,
  round,
  timeMs,
  writeResults,
  type BenchContext,
  type BenchPart,
} from './context.ts'

// Batches in flight in the drainer: as many as the drain function keeps by default, so the
// benchmark measures the drain as deployed. BENCH_DRAIN_BATCHES_IN_FLIGHT measures other settings.
const batchesInFlight = Number(process.env.BENCH_DRAIN_BATCHES_IN_FLIGHT ?? defaultBatchesInFlight)
const limits = {
  fanOutRatio: 0.5,
  drainEmailsPerSecond: 2_000,
  drainRatio: 0.5,
  claimP99Ms: 20,
  peakRssMb: 200,
}

export const pipelinePart: BenchPart = { name: 'pipeline', run: runPipelineBench }

async function runPipelineBench(context: BenchContext): Promise<void> {
  const { sql, now } = context
  const messageId = await queueEveryone(sql, now)
  const [audience] = await sql<{ n: number }[]>`
    select count(*)::integer as n from public.resolve_audience('{}'::jsonb, ${now})
  `

  // Bare baselines: the same rows into a copy of the table with the same indexes, with no
  // triggers and no conflict handling; once with no constraints to other tables, once with the
  // same foreign key to messages (a lookup per row, which every insert into message_deliveries
  // pays; deliveries have no foreign key to users, see the contention-free claims migration).
  await sql`drop table if exists public.bench_deliveries`
  await sql`create table public.bench_deliveries (like public.message_deliveries including all)`
  const bareInsert = () => sql`
    insert into public.bench_deliveries (message_id, user_id, channel, status, sent_at, created_at)
    select ${messageId}, a.user_id, a.channel,
           case when a.channel = 'in_app' then 'sent' else 'queued' end,
           case when a.channel = 'in_app' then ${now}::timestamptz end, ${now}
    from public.resolve_audience('{}'::jsonb, ${now}) a
  `
  await sql`checkpoint`
  const bareFanOutMs = await timeMs(bareInsert)
  await sql`truncate public.bench_deliveries`
  await sql`
    alter table public.bench_deliveries
      add foreign key (message_id) references public.messages (id) on delete cascade
  `
  await sql`checkpoint`
  const keyedFanOutMs = await timeMs(bareInsert)

  await sql`checkpoint`
  // The whole fan-out: one call per range of the audience (about 100,000 users each), as the
  // drain makes them, each its own transaction.
  const fannedOut = { inserted: 0, chunks: 0 }
  const fanOutMs = await timeMs(async () => {
    for (;;) {
      const [row] = await withClaims(
        sql,
        { role: 'service_role' },
        (tx) => tx<{ r: { inserted: number; status: string; chunks: number } }[]>`
          select public.fan_out_next_message(${now}) as r
        `,
      )
      fannedOut.inserted += row!.r.inserted
      fannedOut.chunks = row!.r.chunks
      if (row!.r.status !== 'queued') break
    }
  })
  await sql`vacuum (analyze) public.message_deliveries`
  await sql`vacuum (analyze) public.bench_deliveries`

  await sql`checkpoint`
  const bare = await bareClaimAndRecord(sql, messageId, now)
  // The baseline's table goes before the drain starts: its dead rows would otherwise be vacuumed
  // and its dirty pages written out while the drain runs, on the drain's time.
  await sql`drop table public.bench_deliveries`
  await sql`checkpoint`
  const drain = await drainInChild(context.databaseUrl, bare.emails)

  const claims = drain.claims
  const tenth = Math.max(1, Math.floor(claims.length / 10))
  const peakRssMb = drain.max_rss_bytes / 2 ** 20
  const rssMb = drain.rss.map((bytes) => bytes / 2 ** 20)
  const half = Math.max(1, Math.floor(rssMb.length / 2))
  const result: PipelineResult & Record<string, unknown> = {
    users: context.users,
    environment: context.environment,
    fan_out: {
      rows: fannedOut.inserted,
      chunks: fannedOut.chunks,
      audience_rows: audience!.n,
      seconds: round(fanOutMs / 1000, 2),
      rows_per_second: Math.round(fannedOut.inserted / (fanOutMs / 1000)),
      baseline_seconds: round(bareFanOutMs / 1000, 2),
      baseline_rows_per_second: Math.round(audience!.n / (bareFanOutMs / 1000)),
      ratio: round(bareFanOutMs / fanOutMs, 2),
      baseline_with_foreign_keys_seconds: round(keyedFanOutMs / 1000, 2),
      baseline_with_foreign_keys_rows_per_second: Math.round(audience!.n / (keyedFanOutMs / 1000)),
      ratio_to_baseline_with_foreign_keys: round(keyedFanOutMs / fanOutMs, 2),
    },
    drain: {
      emails: drain.sent,
      failed: drain.failed,
      seconds: round(drain.seconds, 1),
      emails_per_second: Math.round(drain.sent / drain.seconds),
      batches_in_flight: batchesInFlight,
      baseline_emails: bare.emails,
      baseline_seconds: round(bare.seconds, 1),
      baseline_emails_per_second: Math.round(bare.emails / bare.seconds),
      ratio: round(drain.sent / drain.seconds / (bare.emails / bare.seconds), 2),
    },
    claims: {
      count: claims.length,
      p50_ms: round(percentile(claims, 50), 2),
      p99_ms: round(percentile(claims, 99), 2),
      first_tenth_p99_ms: round(percentile(claims.slice(0, tenth), 99), 2),
      last_tenth_p99_ms: round(percentile(claims.slice(-tenth), 99), 2),
    },
    memory: {
      peak_rss_mb: round(peakRssMb, 1),
      first_sample_mb: round(rssMb[0] ?? 0, 1),
      last_sample_mb: round(rssMb.at(-1) ?? 0, 1),
      samples: rssMb.length,
      first_half_peak_mb: round(Math.max(...rssMb.slice(0, half)), 1),
      second_half_peak_mb: round(Math.max(...rssMb.slice(half)), 1),
      // Flat: what is still reachable after a full collection at the end of the drain is no more
      // than 10 % over what it was a tenth of the way in. Memory kept per email sent shows here;
      // the RSS peaks of the two halves differ by how much garbage waited for the collector.
      retained_early_mb: round(drain.retained_early_bytes / 2 ** 20, 1),
      retained_end_mb: round(drain.retained_end_bytes / 2 ** 20, 1),
      samples_mb: rssMb.map((mb) => round(mb, 1)),
    },
    limits,
    passed: {},
  }
  result.passed = {
    fan_out_ratio: result.fan_out.ratio >= limits.fanOutRatio,
    drain_emails_per_second: result.drain.emails_per_second >= limits.drainEmailsPerSecond,
    drain_ratio: result.drain.ratio >= limits.drainRatio,
    claim_p99: result.claims.p99_ms <= limits.claimP99Ms,
    claim_no_drift:
      result.claims.last_tenth_p99_ms <=
      Math.max(limits.claimP99Ms, 2 * result.claims.first_tenth_p99_ms),
    peak_rss: result.memory.peak_rss_mb <= limits.peakRssMb,
    memory_flat: result.memory.retained_end_mb <= 1.1 * result.memory.retained_early_mb,
  }

  const files = writeResults(`pipeline-${context.users}`, result, renderMarkdown(result))
  console.log(renderMarkdown(result))
  console.log(`written: ${files.join(', ')}`)
}

/** One message to everyone on both channels, queued the way the admin's send does it. */
async function queueEveryone(sql: Sql, now: Date): Promise<number> {
  const [message] = await sql<{ id: number }[]>`
    insert into public.messages (subject, body_markdown, channel, filters_json)
    values ('Benchmark', 'A **benchmark** message with a [link](https://example.com).', 'both', '{}')
    returning id
  `
  await sql`select public.queue_message(${message!.id}, ${now})`
  return message!.id
}

/**
 * The floor for the drain: claim 100 queued email rows with skip locked, mark them in flight, then
 * sent, committing each batch, in a procedure in the database (no network, no application).
 */
async function bareClaimAndRecord(sql: Sql, messageId: number, now: Date) {
  await sql`
    create or replace procedure public.bench_claim_and_record(p_message_id bigint, p_now timestamptz)
    language plpgsql
    as $$
    declare
      v_batch uuid;
      v_rows integer;
    begin
      loop
        v_batch := gen_random_uuid();
        update public.bench_deliveries set status = 'sending', batch_id = v_batch,
          idempotency_key = v_batch::text, lease_expires_at = p_now + interval '10 minutes',
          reserved_at = p_now, attempts = 1
        where id in (
          select id from public.bench_deliveries
          where message_id = p_message_id and channel = 'email' and status = 'queued'
          order by id limit 100
          for update skip locked
        );
        get diagnostics v_rows = row_count;
        exit when v_rows = 0;
        update public.bench_deliveries set status = 'sent', sent_at = p_now,
          provider_message_id = 'bare-' || id, lease_expires_at = null
        where batch_id = v_batch and status = 'sending';
        commit;
      end loop;
    end
    $$
  `
  const [row] = await sql<{ n: number }[]>`
    select count(*)::integer as n from public.bench_deliveries
    where channel = 'email' and status = 'queued'
  `
  const ms = await timeMs(() => sql`call public.bench_claim_and_record(${messageId}, ${now})`)
  await sql`drop procedure public.bench_claim_and_record(bigint, timestamptz)`
  return { emails: row!.n, seconds: ms / 1000 }
}

interface DrainerReport {
  sent: number
  failed: number
  seconds: number
  claims: number[]
  rss: number[]
  max_rss_bytes: number
  retained_early_bytes: number
  retained_end_bytes: number
}

async function drainInChild(databaseUrl: string, emails: number): Promise<DrainerReport> {
  const provider = await startFakeResend({ recordEmails: false })
  try {
    const child = spawn(
      join(repoRoot, 'node_modules', '.bin', 'tsx'),
      [join(repoRoot, 'bench', 'pipeline-drainer.ts')],
      {
        env: {
          ...process.env,
          BENCH_DB_URL: databaseUrl,
          BENCH_PROVIDER_URL: provider.url,
          BENCH_PROVIDER_KEY: provider.apiKey,
          BENCH_BATCHES_IN_FLIGHT: String(batchesInFlight),
          BENCH_EXPECTED_EMAILS: String(emails),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    const line = output.trim().split('\n').at(-1)
    if (code !== 0 || !line)
      throw new Error(`the benchmark drainer failed (exit ${code}): ${output}`)
    return JSON.parse(line) as DrainerReport
  } finally {
    await provider.close()
  }
}

interface PipelineResult {
  users: number
  fan_out: Record<string, number>
  drain: Record<string, number>
  claims: Record<string, number>
  memory: {
    peak_rss_mb: number
    first_sample_mb: number
    last_sample_mb: number
    samples: number
    first_half_peak_mb: number
    second_half_peak_mb: number
    retained_early_mb: number
    retained_end_mb: number
    samples_mb: number[]
  }
  passed: Record<string, boolean>
}

function renderMarkdown(result: PipelineResult): string {
  const mark = (ok: boolean | undefined) => (ok ? 'pass' : 'FAIL')
  return [
    `# Pipeline benchmark, ${result.users.toLocaleString('en')} users`,
    '',
    '| measure | result | baseline | target | |',
    '|---|---|---|---|---|',
    `| fan-out (rows/s) | ${result.fan_out.rows_per_second} (${result.fan_out.rows} rows, ${result.fan_out.chunks} range(s), ${result.fan_out.seconds} s) | ${result.fan_out.baseline_rows_per_second} (${result.fan_out.baseline_seconds} s) | ratio ≥ ${limits.fanOutRatio}: ${result.fan_out.ratio} | ${mark(result.passed.fan_out_ratio)} |`,
    `| fan-out vs. the same insert with the same foreign keys | | ${result.fan_out.baseline_with_foreign_keys_rows_per_second} (${result.fan_out.baseline_with_foreign_keys_seconds} s) | ratio: ${result.fan_out.ratio_to_baseline_with_foreign_keys} | |`,
    `| drain (emails/s) | ${result.drain.emails_per_second} (${result.drain.emails} emails, ${result.drain.seconds} s) | ${result.drain.baseline_emails_per_second} (${result.drain.baseline_seconds} s) | ≥ ${limits.drainEmailsPerSecond}: ${mark(result.passed.drain_emails_per_second)}; ratio ≥ ${limits.drainRatio}: ${result.drain.ratio} | ${mark(result.passed.drain_ratio)} |`,
    `| claim p99 (ms) | ${result.claims.p99_ms} (p50 ${result.claims.p50_ms}, ${result.claims.count} claims) | first tenth ${result.claims.first_tenth_p99_ms}, last tenth ${result.claims.last_tenth_p99_ms} | ≤ ${limits.claimP99Ms}, no drift | ${mark(result.passed.claim_p99 && result.passed.claim_no_drift)} |`,
    `| drainer peak RSS (MB) | ${result.memory.peak_rss_mb} (first sample ${result.memory.first_sample_mb}, last ${result.memory.last_sample_mb}; peak of the first half ${result.memory.first_half_peak_mb}, of the second ${result.memory.second_half_peak_mb}) | | ≤ ${limits.peakRssMb} | ${mark(result.passed.peak_rss)} |`,
    `| drainer memory reachable after a full collection (MB) | ${result.memory.retained_end_mb} at the end | ${result.memory.retained_early_mb} a tenth of the way in | flat (end ≤ 1.1 × early) | ${mark(result.passed.memory_flat)} |`,
    `| batches in flight | ${result.drain.batches_in_flight} | | | |`,
    '',
  ].join('\n')
}
