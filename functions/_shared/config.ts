// Configuration of the admin and user functions, read once at start from the environment (Deno's
// or Node's). A function that cannot verify tokens must not start: with neither SUPABASE_JWKS nor
// HIVESYNC_JWT_SECRET it fails here, naming both, except in local mode, where the Supabase CLI's
// well-known local secret is the default.

import { HiveSyncError } from '../../shared/errors.ts'

export type Env = Record<string, string | undefined>

/** Supabase's published local-development JWT secret; only ever a default in local mode. */
export const localJwtSecret = 'super-secret-jwt-token-with-at-least-32-characters-long'

export interface AuthConfig {
  /** HS256 secret (legacy projects, local mode). */
  jwtSecret?: string
  /** The project's JSON Web Key Set (asymmetric signing keys), or the URL it is published at. */
  jwks?: { keys: Record<string, unknown>[] } | URL
  /** Expected `iss`, checked when known. */
  issuer?: string
}

export interface FunctionConfig {
  auth: AuthConfig
  /** Browser origins allowed to call the user function (apps in a web view). */
  corsOrigins: string[]
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number
  localMode: boolean
}

export const defaultMaxBodyBytes = 256 * 1024

export function isLocalMode(env: Env): boolean {
  return env.HIVESYNC_LOCAL_MODE === '1' || env.HIVESYNC_LOCAL_MODE === 'true'
}

export function readFunctionConfig(
  env: Env,
  options: { localMode?: boolean } = {},
): FunctionConfig {
  const localMode = options.localMode ?? isLocalMode(env)
  return {
    auth: readAuthConfig(env, localMode),
    corsOrigins: readCorsOrigins(env.HIVESYNC_CORS_ORIGINS),
    maxBodyBytes: defaultMaxBodyBytes,
    localMode,
  }
}

function readAuthConfig(env: Env, localMode: boolean): AuthConfig {
  const jwks = parseJwks(env.SUPABASE_JWKS?.trim())
  let jwtSecret = env.HIVESYNC_JWT_SECRET?.trim() || undefined
  if (!jwtSecret && !jwks && localMode) jwtSecret = localJwtSecret

  if (!jwtSecret && !jwks) {
    throw configurationError(
      'Neither SUPABASE_JWKS nor HIVESYNC_JWT_SECRET is set, so tokens cannot be verified. On ' +
        'Supabase, SUPABASE_JWKS is provided; for a project on the legacy JWT secret, set ' +
        'HIVESYNC_JWT_SECRET to it (Project Settings → API).',
    )
  }
  if (jwtSecret && jwtSecret.length < 32) {
    throw configurationError(
      'HIVESYNC_JWT_SECRET is shorter than 32 characters; set it to the project JWT secret.',
    )
  }

  const supabaseUrl = env.SUPABASE_URL?.trim().replace(/\/+$/, '')
  return { jwtSecret, jwks, issuer: supabaseUrl ? `${supabaseUrl}/auth/v1` : undefined }
}

// Supabase provides SUPABASE_JWKS inline, as {"keys": [...]} or a bare array; a project still on
// the legacy secret may have no keys in it, which counts as none configured. An https URL (or
// plain http to this machine, for a local Supabase stack) is fetched and cached by jose.
function parseJwks(raw: string | undefined): AuthConfig['jwks'] {
  if (!raw) return undefined
  if (/^https:\/\//.test(raw) || /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])[:/]/.test(raw)) {
    return new URL(raw)
  }

  try {
    const parsed = JSON.parse(raw) as unknown
    const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown }).keys
    if (Array.isArray(keys)) {
      return keys.length > 0 ? { keys: keys as Record<string, unknown>[] } : undefined
    }
  } catch {
    // Reported below with the expected shape.
  }
  throw configurationError(
    'SUPABASE_JWKS must be a JSON Web Key Set ({"keys": [...]}) or the https URL of one.',
  )
}

function readCorsOrigins(raw: string | undefined): string[] {
  const origins = (raw ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin)
  for (const origin of origins) {
    if (origin !== '*' && !/^[a-z][a-z0-9+.-]*:\/\/[^/]+$/i.test(origin)) {
      throw configurationError(
        `HIVESYNC_CORS_ORIGINS holds "${origin}", which is not an origin: list origins such as ` +
          `https://app.example.com, separated by commas, without paths.`,
      )
    }
  }
  return origins
}

/** The database URL a function connects to; required everywhere. */
export function readDatabaseUrl(env: Env): string {
  const url = env.SUPABASE_DB_URL?.trim()
  if (!url) {
    throw configurationError(
      'SUPABASE_DB_URL is not set. Supabase sets it for Edge Functions; elsewhere set it to the ' +
        'Postgres connection string (the transaction pooler on port 6543 works).',
    )
  }
  return url
}

function configurationError(message: string): HiveSyncError {
  return new HiveSyncError('configuration', message)
}
