// Run as a child process by the crash test: one drain against the given database and fake Resend,
// which announces on stdout when the provider has answered and then hangs before recording the
// result, so the parent can SIGKILL it at exactly that point.

import { connect } from '../../functions/_shared/db.ts'
import { createResendProvider } from '../../functions/_shared/email/resend-batch.ts'
import { runDrain } from '../../functions/_shared/pipeline/run-drain.ts'
import { drainSettings, memoryEmailLog } from './pipeline.ts'

async function main() {
  const { CRASH_DB_URL, CRASH_RESEND_URL, CRASH_RESEND_KEY, CRASH_NOW } = process.env
  const resend = createResendProvider({
    apiKey: CRASH_RESEND_KEY!,
    baseUrl: CRASH_RESEND_URL!,
    timeoutMs: 5_000,
  })

  await runDrain({
    sql: connect(CRASH_DB_URL!, { max: 1 }),
    provider: {
      name: resend.name,
      maxBatchSize: resend.maxBatchSize,
      async sendBatch(batch) {
        const outcome = await resend.sendBatch(batch)
        process.stdout.write(`provider answered ${batch.batchId} ${outcome.kind}\n`)
        return new Promise(() => {})
      },
    },
    emailLog: memoryEmailLog(),
    settings: drainSettings(),
    env: {},
    now: () => new Date(CRASH_NOW!),
  })
}

await main()
