// Entry point of the `drain` Edge Function. Configuration is read once at start; the environment
// itself stays live behind a proxy, so HIVESYNC_EMAIL_DISABLED is read afresh before every batch.
// Hosted functions can write only under /tmp, which is where the data folder defaults to here.

import { readDatabaseUrl } from '../_shared/config.ts'
import { connect } from '../_shared/db.ts'
import { readDrainConfig } from '../_shared/pipeline/drain-config.ts'
import { currentEnv } from '../_shared/pipeline/live-env.ts'
import { createDrainApp } from './app.ts'

interface DenoGlobals {
  env: { toObject(): Record<string, string> }
  serve(handler: (request: Request) => Response | Promise<Response>): unknown
}

const deno = (globalThis as unknown as { Deno: DenoGlobals }).Deno
const snapshot = deno.env.toObject()

const config = readDrainConfig(snapshot, snapshot.HIVESYNC_DATA_DIR || '/tmp/hivesync')
const sql = connect(readDatabaseUrl(snapshot), { max: 3 })
const app = createDrainApp({ sql, config, env: currentEnv() })

deno.serve((request) => app.fetch(request))
