// The local stack's stand-in for pg_cron: POSTs the drain function's URL every
// HIVESYNC_DRAIN_INTERVAL_SECONDS (10 by default) with the drain secret, exactly as the scheduled
// job does in production. A run still in progress is not overlapped by the next tick; failures
// are logged and the timer keeps going.

import { log } from '../functions/_shared/log.ts'
import { HiveSyncError } from '../shared/errors.ts'

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
