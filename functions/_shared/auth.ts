// Bearer tokens are verified here, not by the platform gateway (functions are declared with
// verify_jwt = false): HS256 with the project's legacy secret, or the project's asymmetric keys.
// A verified token must be a signed-in user's: audience `authenticated`, role `authenticated` and a
// uuid subject. Its claims then travel to Postgres unchanged, so RLS sees what PostgREST would.

import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose'

import { HiveSyncError } from '../../shared/errors.ts'
import type { AuthConfig } from './config.ts'
import type { Claims } from './db.ts'

export interface Caller {
  id: string
  claims: Claims
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function createTokenVerifier(config: AuthConfig): (token: string) => Promise<Caller> {
  const secret = config.jwtSecret ? new TextEncoder().encode(config.jwtSecret) : undefined
  const keySet: JWTVerifyGetKey | undefined =
    config.jwks instanceof URL
      ? createRemoteJWKSet(config.jwks)
      : config.jwks
        ? createLocalJWKSet(config.jwks as Parameters<typeof createLocalJWKSet>[0])
        : undefined
  const options = { audience: 'authenticated', issuer: config.issuer }

  return async function verifyToken(token: string): Promise<Caller> {
    let payload: JWTPayload
    try {
      const { alg } = decodeProtectedHeader(token)
      if (alg === 'HS256' && secret) {
        payload = (await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] })).payload
      } else if (alg !== 'HS256' && keySet) {
        payload = (await jwtVerify(token, keySet, options)).payload
      } else {
        throw invalidToken('The token is signed with an algorithm this project does not use.')
      }
    } catch (error) {
      if (error instanceof HiveSyncError) throw error
      if (error instanceof joseErrors.JWTExpired) {
        throw new HiveSyncError('token_expired', 'The token has expired; refresh the session.', {
          status: 401,
        })
      }
      throw invalidToken('The token could not be verified; sign in again.', error)
    }

    if (typeof payload.sub !== 'string' || !uuid.test(payload.sub)) {
      throw invalidToken('The token does not name a user; sign in as a user.')
    }
    if (payload.role !== 'authenticated') {
      throw invalidToken('The token is not a signed-in user’s token; sign in as a user.')
    }
    if (typeof payload.exp !== 'number') {
      throw invalidToken('The token has no expiry; sign in again to get a session token.')
    }

    return { id: payload.sub, claims: { ...payload, role: 'authenticated', sub: payload.sub } }
  }
}

/** The token of an `Authorization: Bearer …` header, or undefined when there is none. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
  return match?.[1]
}

function invalidToken(message: string, cause?: unknown): HiveSyncError {
  return new HiveSyncError('invalid_token', message, { status: 401, cause })
}
