// `npm start`: the local stack in one command. Starts (or adopts) the database, migrates it, and
// in local mode adds the demo accounts and demo data; then serves every function on
// HIVESYNC_API_PORT and calls the drain on a timer, as pg_cron does in production. Ctrl-C stops
// the timer, the server and the embedded database cleanly.

import { readFunctionConfig, isLocalMode, localJwtSecret } from '../functions/_shared/config.ts'
import { connect } from '../functions/_shared/db.ts'
import { log } from '../functions/_shared/log.ts'
import { openLocalDatabase } from './database.ts'
import { demoAdmin, demoUsers, ensureDemoAccounts, signAccessToken } from './demo-accounts.ts'
import { generateDemoData } from './demo-data.ts'
import { createLocalDrain, drainIntervalSeconds, startDrainScheduler } from './drain-scheduler.ts'
import { apiPort, startApiServer } from './server.ts'

const demoUserCount = 3000
const adminTokenSeconds = 7 * 24 * 3600

async function main(): Promise<void> {
  const env = process.env
  const port = apiPort(env)
  const database = await openLocalDatabase(env)
  const localMode = database.embedded || isLocalMode(env)
  const sql = connect(database.url, { max: 10 })

  let stopping = false
  let scheduler: { stop(): void } | undefined
  const stop = async (server?: { close(): Promise<void> }, exitCode = 0) => {
    if (stopping) return
    stopping = true
    log('info', 'local stack stopping')
    scheduler?.stop()
    await server?.close()
    await sql.end({ timeout: 5 })
    await database.stop()
    process.exit(exitCode)
  }

  try {
    if (localMode) await seedLocalData(sql)
    const config = readFunctionConfig(env, { localMode })
    const drain = createLocalDrain(sql, env)
    const intervalSeconds = drainIntervalSeconds(env)
    const server = await startApiServer({ sql, config }, { port, others: [['drain', drain.app]] })
    scheduler = startDrainScheduler({
      url: `${server.functionsUrl}/drain`,
      secret: drain.secret,
      intervalSeconds,
    })

    process.once('SIGINT', () => void stop(server))
    process.once('SIGTERM', () => void stop(server))

    // Only in local mode is a ready-made admin token printed, signed with the HS256 secret in use.
    const secret = config.auth.jwtSecret
    const adminJwt =
      localMode && secret
        ? await signAccessToken(secret, demoAdmin, {
            expiresInSeconds: adminTokenSeconds,
            issuer: config.auth.issuer,
          })
        : undefined
    log('info', 'local stack ready', {
      api_url: server.functionsUrl,
      local_mode: localMode,
      admin_email: localMode ? demoAdmin.email : undefined,
      admin_jwt: adminJwt,
      drain_every_seconds: intervalSeconds,
      jwt_secret_is_local_default: secret === localJwtSecret,
    })
  } catch (error) {
    reportFailure(error)
    await stop(undefined, 1)
  }
}

async function seedLocalData(sql: ReturnType<typeof connect>): Promise<void> {
  await ensureDemoAccounts(sql)

  // Demo data is generated once: a database that already holds other users keeps what it has.
  const known = [demoAdmin, ...demoUsers].map((account) => account.id)
  const [{ others }] = await sql<[{ others: number }]>`
    select count(*)::int as others from public.users where id <> all(${known}::uuid[])
  `
  if (others === 0) {
    const summary = await generateDemoData(sql, { users: demoUserCount, seed: 1, now: new Date() })
    log('info', 'demo data generated', { ...summary })
  }
}

function reportFailure(error: unknown): void {
  log('error', 'local stack failed to start', {
    error: error instanceof Error ? error.message : String(error),
  })
}

main().catch((error: unknown) => {
  reportFailure(error)
  process.exit(1)
})
