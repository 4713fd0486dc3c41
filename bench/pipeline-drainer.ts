// The drainer of the pipeline benchmark, run as a process of its own so that its peak memory is
// the drain's alone: runs the drain (with as many batches in flight as the parent asks) until the
// queue is empty, with the limits lifted, against the fake provider the parent serves, then
// prints one JSON line with the emails sent, the time, every claim's latency and its memory over
// time: the RSS each second, and the memory still reachable after a full collection once a tenth
// of the emails are claimed and again at the end, which grows only if the drain keeps something
// per email (RSS also rises and falls with when the collector happens to run).

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

import { connect } from '../functions/_shared/db.ts'
import { createResendProvider } from '../functions/_shared/email/resend-batch.ts'
import { runDrain } from '../functions/_shared/pipeline/run-drain.ts'

setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void

/**
 * Bytes reachable after full collections: the JavaScript heap and the buffers it holds. Twice,
 * a turn of the event loop apart: what waits on a finalizer (fetch bodies do) is released only
 * by the collection after its callback has run.
 */
async function retainedBytes(): Promise<number> {
  collectGarbage()
  await new Promise((resolve) => setImmediate(resolve))
  collectGarbage()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.external
}

async function main() {
  const {
    BENCH_DB_URL,
    BENCH_PROVIDER_URL,
    BENCH_PROVIDER_KEY,
    BENCH_BATCHES_IN_FLIGHT,
    BENCH_EXPECTED_EMAILS,
  } = process.env
  const batchesInFlight = Number(BENCH_BATCHES_IN_FLIGHT ?? '1')
  const batchSize = 100
  // The first measurement once a tenth of the claims are made.
  const earlyClaim = Math.max(1, Math.ceil(Number(BENCH_EXPECTED_EMAILS ?? 0) / batchSize / 10))
  const sql = connect(BENCH_DB_URL!, { max: batchesInFlight + 1 })
  const provider = createResendProvider({
    apiKey: BENCH_PROVIDER_KEY!,
    baseUrl: BENCH_PROVIDER_URL!,
    timeoutMs: 30_000,
  })

  // Open every connection of the pool first, as a warm drain function has them: connecting is not
  // part of a claim, and the first claim of each connection would otherwise carry it.
  await Promise.all(Array.from({ length: batchesInFlight + 1 }, () => sql`select 1`))

  const claims: number[] = []
  const rss: number[] = []
  let retainedEarly: Promise<number> | undefined
  const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 1_000)
  let sent = 0
  let failed = 0
  const started = performance.now()
  for (;;) {
    const summary = await runDrain({
      sql,
      provider,
      emailLog: { record: () => {} },
      settings: {
        fromAddress: 'bench@hivesync.test',
        fromName: 'HiveSync',
        batchSize,
        leaseSeconds: 600,
        timeBudgetMs: 3_600_000,
        retentionDays: 90,
        limits: { maxPerMinute: null, maxPerHour: null },
        retry: { maxAttempts: 5, baseSeconds: 30, capSeconds: 900, retryAfterCapSeconds: 3600 },
      },
      env: {},
      batchesInFlight,
      observeClaim: (ms) => {
        claims.push(ms)
        if (claims.length === earlyClaim) retainedEarly = retainedBytes()
      },
    })
    sent += summary.sent
    failed += summary.failed
    if (summary.stopped !== 'time_budget') break
  }
  const seconds = (performance.now() - started) / 1000
  clearInterval(sampler)
  rss.push(process.memoryUsage().rss)
  const retainedEnd = await retainedBytes()
  await sql.end()

  process.stdout.write(
    `${JSON.stringify({
      sent,
      failed,
      seconds,
      claims,
      rss,
      max_rss_bytes: process.resourceUsage().maxRSS * 1024,
      retained_early_bytes: (await retainedEarly) ?? 0,
      retained_end_bytes: retainedEnd,
    })}\n`,
  )
}

await main()
