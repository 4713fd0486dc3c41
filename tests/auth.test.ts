import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'

import { bearerToken, createTokenVerifier } from '../functions/_shared/auth.ts'
import { localJwtSecret, readFunctionConfig } from '../functions/_shared/config.ts'
import { HiveSyncError } from '../shared/errors.ts'
import { otherJwtSecret, testJwtSecret, tokenFor } from './support/api-client.ts'

const user = { id: '6f1c1a9e-7d2b-4c55-9a51-8f3f0f0a2b11', email: 'u@example.com' }
const verify = createTokenVerifier({ jwtSecret: testJwtSecret })

async function failure(promise: Promise<unknown>): Promise<HiveSyncError> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  )
  expect(error).toBeInstanceOf(HiveSyncError)
  return error as HiveSyncError
}

function sign(claims: Record<string, unknown>, secret = testJwtSecret) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret))
}

describe('verifying HS256 tokens', () => {
  it('accepts a user token and keeps its claims for the database', async () => {
    const caller = await verify(await tokenFor(user))
    expect(caller.id).toBe(user.id)
    expect(caller.claims).toMatchObject({ role: 'authenticated', sub: user.id, email: user.email })
  })

  it('rejects an expired token as token_expired', async () => {
    const token = await tokenFor(user, {
      now: new Date(Date.now() - 7200_000),
      expiresInSeconds: 60,
    })
    expect((await failure(verify(token))).code).toBe('token_expired')
  })

  it.each([
    ['signed with another key', () => tokenFor(user, { secret: otherJwtSecret })],
    ['for another audience', () => sign({ sub: user.id, role: 'authenticated', aud: 'other' })],
    ['of the anon role', () => sign({ sub: user.id, role: 'anon', aud: 'authenticated' })],
    ['of the service role', () => sign({ role: 'service_role', aud: 'authenticated' })],
    [
      'without a uuid subject',
      () => sign({ sub: 'admin', role: 'authenticated', aud: 'authenticated' }),
    ],
    [
      'unsigned (alg none)',
      async () => {
        const body = Buffer.from(
          JSON.stringify({ sub: user.id, role: 'authenticated', aud: 'authenticated' }),
        )
        return `${Buffer.from('{"alg":"none"}').toString('base64url')}.${body.toString('base64url')}.`
      },
    ],
    ['that is not a JWT', async () => 'not-a-token'],
  ])('rejects a token %s as invalid_token', async (_name, makeToken) => {
    const error = await failure(verify(await makeToken()))
    expect(error.code).toBe('invalid_token')
    expect(error.status).toBe(401)
  })

  it('checks the issuer when SUPABASE_URL is known', async () => {
    const config = readFunctionConfig({
      HIVESYNC_JWT_SECRET: testJwtSecret,
      SUPABASE_URL: 'https://project.supabase.co',
    })
    const strict = createTokenVerifier(config.auth)
    const token = await sign({ sub: user.id, role: 'authenticated', aud: 'authenticated' })
    expect((await failure(strict(token))).code).toBe('invalid_token')

    const issued = await sign({
      sub: user.id,
      role: 'authenticated',
      aud: 'authenticated',
      iss: 'https://project.supabase.co/auth/v1',
    })
    expect((await strict(issued)).id).toBe(user.id)
  })
})

describe('verifying tokens against SUPABASE_JWKS', () => {
  it('accepts a token signed with a published key and rejects one signed with another', async () => {
    const published = await generateKeyPair('ES256')
    const stranger = await generateKeyPair('ES256')
    const jwk = { ...(await exportJWK(published.publicKey)), kid: 'k1', alg: 'ES256' }
    const config = readFunctionConfig({ SUPABASE_JWKS: JSON.stringify({ keys: [jwk] }) })
    const verifyJwks = createTokenVerifier(config.auth)

    const signWith = (key: Parameters<SignJWT['sign']>[0]) =>
      new SignJWT({ role: 'authenticated' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setSubject(user.id)
        .setAudience('authenticated')
        .setExpirationTime('1h')
        .sign(key)

    expect((await verifyJwks(await signWith(published.privateKey))).id).toBe(user.id)
    expect((await failure(verifyJwks(await signWith(stranger.privateKey)))).code).toBe(
      'invalid_token',
    )
    // An HS256 token cannot stand in when only asymmetric keys are configured.
    expect((await failure(verifyJwks(await tokenFor(user)))).code).toBe('invalid_token')
  })
})

describe('configuration', () => {
  it('fails at start outside local mode when no key is configured, naming both variables', () => {
    expect(() => readFunctionConfig({})).toThrow(/SUPABASE_JWKS.*HIVESYNC_JWT_SECRET/)
  })

  it('defaults to the well-known local secret in local mode only', () => {
    expect(readFunctionConfig({ HIVESYNC_LOCAL_MODE: '1' }).auth.jwtSecret).toBe(localJwtSecret)
    expect(readFunctionConfig({}, { localMode: true }).auth.jwtSecret).toBe(localJwtSecret)
  })

  it('treats an empty key set as none, so a legacy-secret project still needs its secret', () => {
    expect(() => readFunctionConfig({ SUPABASE_JWKS: '{"keys":[]}' })).toThrow(
      /HIVESYNC_JWT_SECRET/,
    )
    const config = readFunctionConfig({ SUPABASE_JWKS: '[]', HIVESYNC_JWT_SECRET: testJwtSecret })
    expect(config.auth.jwks).toBeUndefined()
  })

  it('rejects a short secret, a malformed key set, a plain-http key URL and an origin with a path', () => {
    expect(() => readFunctionConfig({ SUPABASE_JWKS: 'http://keys.example.com/jwks' })).toThrow(
      /SUPABASE_JWKS/,
    )
    expect(() => readFunctionConfig({ HIVESYNC_JWT_SECRET: 'short' })).toThrow(/32 characters/)
    expect(() => readFunctionConfig({ SUPABASE_JWKS: '{"nope": 1}' })).toThrow(/SUPABASE_JWKS/)
    expect(() =>
      readFunctionConfig({
        HIVESYNC_JWT_SECRET: testJwtSecret,
        HIVESYNC_CORS_ORIGINS: 'https://a.test/app',
      }),
    ).toThrow(/HIVESYNC_CORS_ORIGINS/)
  })
})

describe('bearerToken', () => {
  it('reads the token of a Bearer header only', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi')
    expect(bearerToken('bearer abc')).toBe('abc')
    expect(bearerToken('Basic abc')).toBeUndefined()
    expect(bearerToken(undefined)).toBeUndefined()
  })
})
