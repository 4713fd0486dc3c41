// Configuration of the drain, read once at start. Every number has a default from the design and
// is checked here, so a typo fails the function at boot with the variable's name instead of
// surfacing as odd sending behaviour. The kill-switch variable is the exception: it is re-read
// before every batch (see emailDisabledByEnv), so it is not part of this snapshot.

import { join } from 'node:path'

import { HiveSyncError } from '../../../shared/errors.ts'
import { isLocalMode, type Env } from '../config.ts'

export type ProviderName = 'mock' | 'resend'

export interface SendingLimits {
  maxPerMinute: number
  maxPerHour: number
  maxMessagesPerDay: number
}

export interface RetryPolicy {
  maxAttempts: number
  baseSeconds: number
  capSeconds: number
  retryAfterCapSeconds: number
}

export interface DrainConfig {
  secret: string
  provider: ProviderName
  apiKey?: string
  apiUrl: string
  fromAddress: string
  fromName?: string
  outboxDir: string
  emailLogFile?: string
  batchSize?: number
  providerTimeoutMs: number
  leaseSeconds: number
  timeBudgetMs: number
  /** Batches one drain call keeps in flight at once, each claimed and recorded on its own. */
  batchesInFlight: number
  retentionDays: number
  limits: SendingLimits
  retry: RetryPolicy
}

// Two: while one batch waits for its claim, the other is with the provider. More add little (the
// database does the work of every batch) and make each claim wait longer for its turn.
export const defaultBatchesInFlight = 2

export function readSendingLimits(env: Env): SendingLimits {
  return {
    maxPerMinute: readInteger(env, 'HIVESYNC_EMAIL_MAX_PER_MINUTE', 100, 1),
    maxPerHour: readInteger(env, 'HIVESYNC_EMAIL_MAX_PER_HOUR', 1000, 1),
    maxMessagesPerDay: readInteger(env, 'HIVESYNC_MAX_MESSAGES_PER_DAY', 10, 1),
  }
}

export function readDrainConfig(env: Env, dataDir: string): DrainConfig {
  const localMode = isLocalMode(env)
  const secret = env.HIVESYNC_DRAIN_SECRET?.trim() ?? ''
  if (secret.length < 16) {
    throw configurationError(
      'HIVESYNC_DRAIN_SECRET must be set to a random string of at least 16 characters; the ' +
        'scheduler sends it as the bearer token (store the same value in Vault as ' +
        'hivesync_drain_secret).',
    )
  }

  const provider = readProvider(env, localMode)
  const apiKey = env.HIVESYNC_EMAIL_API_KEY?.trim() || undefined
  if (provider !== 'mock' && !apiKey) {
    throw configurationError(
      `HIVESYNC_EMAIL_API_KEY is not set; set it to the ${provider} API key, or set ` +
        'HIVESYNC_EMAIL_PROVIDER=mock to write emails to the outbox instead.',
    )
  }

  const fromAddress =
    env.HIVESYNC_EMAIL_FROM_ADDRESS?.trim() ||
    (provider === 'mock' ? 'messages@hivesync.local' : '')
  if (!/^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$/.test(fromAddress)) {
    throw configurationError(
      'HIVESYNC_EMAIL_FROM_ADDRESS must be the sender address on a domain verified with the ' +
        `provider (like news@example.com), not "${fromAddress}".`,
    )
  }

  const batchSize = env.HIVESYNC_EMAIL_BATCH_SIZE
    ? readInteger(env, 'HIVESYNC_EMAIL_BATCH_SIZE', 100, 1, 100)
    : undefined

  return {
    secret,
    provider,
    apiKey,
    apiUrl: (env.HIVESYNC_EMAIL_API_URL?.trim() || 'https://api.resend.com').replace(/\/+$/, ''),
    fromAddress,
    fromName: env.HIVESYNC_EMAIL_FROM_NAME?.trim() || undefined,
    outboxDir: env.HIVESYNC_OUTBOX_DIR?.trim() || join(dataDir, 'outbox'),
    emailLogFile: env.HIVESYNC_EMAIL_LOG?.trim() || join(dataDir, 'logs', 'email.log'),
    batchSize,
    providerTimeoutMs: readInteger(env, 'HIVESYNC_EMAIL_TIMEOUT_SECONDS', 30, 1, 120) * 1000,
    leaseSeconds: readInteger(env, 'HIVESYNC_DRAIN_LEASE_SECONDS', 600, 10),
    timeBudgetMs: readInteger(env, 'HIVESYNC_DRAIN_TIME_BUDGET_SECONDS', 100, 1, 300) * 1000,
    batchesInFlight: readInteger(
      env,
      'HIVESYNC_DRAIN_BATCHES_IN_FLIGHT',
      defaultBatchesInFlight,
      1,
      8,
    ),
    retentionDays: readInteger(env, 'HIVESYNC_DELIVERY_RETENTION_DAYS', 90, 1),
    limits: readSendingLimits(env),
    retry: {
      maxAttempts: readInteger(env, 'HIVESYNC_EMAIL_MAX_ATTEMPTS', 5, 1, 100),
      baseSeconds: readInteger(env, 'HIVESYNC_EMAIL_RETRY_BASE_SECONDS', 30, 1),
      capSeconds: readInteger(env, 'HIVESYNC_EMAIL_RETRY_CAP_SECONDS', 900, 1),
      retryAfterCapSeconds: readInteger(env, 'HIVESYNC_EMAIL_RETRY_AFTER_CAP_SECONDS', 3600, 0),
    },
  }
}

/** HIVESYNC_EMAIL_DISABLED, read at the moment of asking: the hard layer of the kill switch. */
export function emailDisabledByEnv(env: Env): boolean {
  const value = env.HIVESYNC_EMAIL_DISABLED?.trim().toLowerCase()
  return value === 'true' || value === '1' || value === 'yes'
}

function readProvider(env: Env, localMode: boolean): ProviderName {
  const raw = env.HIVESYNC_EMAIL_PROVIDER?.trim().toLowerCase()
  if (!raw && localMode) return 'mock'
  if (raw === 'mock' || raw === 'resend') return raw
  throw configurationError(
    raw
      ? `HIVESYNC_EMAIL_PROVIDER is "${raw}"; this drain supports resend and mock.`
      : 'HIVESYNC_EMAIL_PROVIDER is not set; set it to resend (or mock to write emails to the ' +
          'outbox).',
  )
}

function readInteger(env: Env, name: string, fallback: number, min: number, max = 1_000_000_000) {
  const raw = env[name]?.trim()
  if (raw === undefined || raw === '') return fallback

  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw configurationError(`${name} must be a whole number from ${min} to ${max}, not "${raw}".`)
  }
  return value
}

function configurationError(message: string): HiveSyncError {
  return new HiveSyncError('configuration', message)
}
