// What every HTTP function shares: a Hono app under its function's name (Supabase Edge Runtime
// hands a function paths that start with `/<name>/`), one JSON log line per request, bearer-token
// authentication before anything reads the body, a body size limit, and errors in one shape.

import { OpenAPIHono } from '@hono/zod-openapi'
import type { Context, MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'

import { HiveSyncError } from '../../shared/errors.ts'
import { bearerToken, createTokenVerifier, type Caller } from './auth.ts'
import type { FunctionConfig } from './config.ts'
import { withClaims, type Sql, type Tx } from './db.ts'
import { errorResponse, toHiveSyncError, validationError } from './errors.ts'
import { log } from './log.ts'

export interface AppEnv {
  Variables: { caller: Caller }
}

export type FunctionApp = OpenAPIHono<AppEnv, {}, string>

export interface FunctionDeps {
  sql: Sql
  config: FunctionConfig
}

export function createFunctionApp(name: string): FunctionApp {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target)
    },
  }).basePath(`/${name}`)

  app.use('*', requestLog(name))
  app.onError((error, c) => errorResponse(c, toHiveSyncError(error)))
  app.notFound((c) =>
    errorResponse(
      c,
      new HiveSyncError('route_not_found', `No endpoint answers ${c.req.method} ${c.req.path}.`, {
        status: 404,
      }),
    ),
  )
  return app
}

function requestLog(name: string): MiddlewareHandler<AppEnv> {
  return async function logRequest(c, next) {
    const started = performance.now()
    await next()

    const status = c.res.status
    log(status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info', 'request', {
      function: name,
      method: c.req.method,
      route: c.req.routePath,
      status,
      duration_ms: Math.round((performance.now() - started) * 10) / 10,
      user_id: c.get('caller')?.id ?? null,
    })
  }
}

/** 401 unless the request carries a valid user token; runs before any validation. */
export function authenticate(config: FunctionConfig): MiddlewareHandler<AppEnv> {
  const verifyToken = createTokenVerifier(config.auth)

  return async function authenticateCaller(c, next) {
    if (c.req.method === 'OPTIONS') return next()

    const token = bearerToken(c.req.header('authorization'))
    if (!token) {
      throw new HiveSyncError(
        'missing_token',
        'Send the signed-in user’s access token as "Authorization: Bearer <token>".',
        { status: 401 },
      )
    }
    c.set('caller', await verifyToken(token))
    await next()
  }
}

/** 413 for a body larger than the limit, whether or not Content-Length announces it. */
export function limitBody(config: FunctionConfig): MiddlewareHandler<AppEnv> {
  return bodyLimit({
    maxSize: config.maxBodyBytes,
    onError: () => {
      throw new HiveSyncError(
        'payload_too_large',
        `The request body is larger than ${config.maxBodyBytes} bytes; send less.`,
        { status: 413, details: { max_bytes: config.maxBodyBytes } },
      )
    },
  })
}

/** Runs `work` in one transaction as the caller, so row-level security applies to every query. */
export function asCaller<T>(sql: Sql, c: Context<AppEnv>, work: (tx: Tx) => Promise<T>) {
  return withClaims(sql, c.get('caller').claims, work)
}
