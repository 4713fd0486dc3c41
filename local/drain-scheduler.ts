// The local stack's stand-in for pg_cron: POSTs the drain function's URL every
// HIVESYNC_DRAIN_INTERVAL_SECONDS (10 by default) with the drain secret, exactly as the scheduled
// job does in production. A run still in progress is not overlapped by the next tick; failures
// are logged and the timer keeps going.

import { randomBytes } from 'node:crypto'

import type { FunctionApp } from '../functions/_shared/app.ts'
import type { Sql } from '../functions/_shared/db.ts'
import { log } from '../functions/_shared/log.ts'
import { readDrainConfig } from '../functions/_shared/pipeline/drain-config.ts'
import { createDrainApp } from '../functions/drain/app.ts'
import { HiveSyncError } from '../shared/errors.ts'
import { dataDir } from './paths.ts'

export interface DrainScheduler {
  /** Runs the drain once now (also what each tick does). */
  tick(): Promise<void>
  stop(): void
}

export function drainIntervalSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.HIVESYNC_DRAIN_INTERVAL_SECONDS?.trim()
  if (!raw) return 10

  const seconds = Number(raw)
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 3600) {
    throw new HiveSyncError(
      'configuration',
      `HIVESYNC_DRAIN_INTERVAL_SECONDS must be a number of seconds from 1 to 3600, not "${raw}".`,
    )
  }
  return seconds
}

export function startDrainScheduler(options: {
  url: string
  secret: string
  intervalSeconds: number
}): DrainScheduler {
  let running: Promise<void> | undefined

  const tick = async () => {
    if (running) return running
    running = callDrain(options.url, options.secret).finally(() => {
      running = undefined
    })
    return running
  }

  const timer = setInterval(() => void tick(), options.intervalSeconds * 1000)
  timer.unref()
  return { tick, stop: () => clearInterval(timer) }
}

async function callDrain(url: string, secret: string): Promise<void> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: '{}',
    })
    const body = (await response.json().catch(() => null)) as Record<string, unknown> | null
    if (!response.ok) {
      log('error', 'scheduled drain failed', { status: response.status, error: body?.error })
      return
    }
    if (body && (Number(body.claimed) > 0 || Number(body.fanned_out) > 0)) {
      log('info', 'scheduled drain', body)
    }
  } catch (error) {
    log('error', 'scheduled drain could not reach the drain function', {
      url,
      reason: (error as Error).message,
    })
  }
}

/**
 * The drain function for the local stack: the mock provider unless HIVESYNC_EMAIL_PROVIDER says
 * otherwise, its outbox and email log in the data folder, and HIVESYNC_DRAIN_SECRET or, when
 * unset, a random secret that only this process and its scheduler know.
 */
export function createLocalDrain(
  sql: Sql,
  env: NodeJS.ProcessEnv = process.env,
): { app: FunctionApp; secret: string } {
  const secret = env.HIVESYNC_DRAIN_SECRET?.trim() || randomBytes(24).toString('base64url')
  const config = readDrainConfig(
    { HIVESYNC_LOCAL_MODE: '1', ...env, HIVESYNC_DRAIN_SECRET: secret },
    dataDir(env),
  )
  return { app: createDrainApp({ sql, config, env }), secret }
}
