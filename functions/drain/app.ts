// The drain function: POST with "Authorization: Bearer <HIVESYNC_DRAIN_SECRET>" runs one drain
// and answers its summary. pg_cron (through pg_net) calls it every minute; the local stack calls
// it on a timer. It carries no user JWT, so it checks the shared secret itself, in constant time,
// before doing anything.

import { timingSafeEqual } from 'node:crypto'

import { HiveSyncError } from '../../shared/errors.ts'
import { createFunctionApp, type FunctionApp } from '../_shared/app.ts'
import { bearerToken } from '../_shared/auth.ts'
import type { Env } from '../_shared/config.ts'
import type { Sql } from '../_shared/db.ts'
import { createEmailLog, type EmailLog } from '../_shared/email/email-log.ts'
import type { EmailProvider } from '../_shared/email/email-provider.ts'
import { createEmailProvider } from '../_shared/email/create-provider.ts'
import type { DrainConfig } from '../_shared/pipeline/drain-config.ts'
import { runDrain } from '../_shared/pipeline/run-drain.ts'

export interface DrainAppDeps {
  sql: Sql
  config: DrainConfig
  /** The live environment: HIVESYNC_EMAIL_DISABLED is re-read from it before every batch. */
  env: Env
  provider?: EmailProvider
  emailLog?: EmailLog
  now?: () => Date
}

export function createDrainApp(deps: DrainAppDeps): FunctionApp {
  const app = createFunctionApp('drain')
  const provider = deps.provider ?? createEmailProvider(deps.config)
  const emailLog = deps.emailLog ?? createEmailLog({ file: deps.config.emailLogFile })
  const expected = Buffer.from(deps.config.secret)

  app.post('/', async (c) => {
    const token = bearerToken(c.req.header('authorization'))
    if (!token) {
      throw new HiveSyncError(
        'missing_token',
        'Send the drain secret as "Authorization: Bearer <HIVESYNC_DRAIN_SECRET>".',
        { status: 401 },
      )
    }
    const given = Buffer.from(token)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new HiveSyncError(
        'invalid_token',
        'The bearer token is not the drain secret; send HIVESYNC_DRAIN_SECRET.',
        { status: 401 },
      )
    }

    const summary = await runDrain({
      sql: deps.sql,
      provider,
      emailLog,
      settings: deps.config,
      env: deps.env,
      now: deps.now,
      batchesInFlight: deps.config.batchesInFlight,
    })
    return c.json(summary, 200)
  })

  return app
}
