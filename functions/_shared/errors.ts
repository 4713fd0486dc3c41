// Every failure leaves a function in the design's shape, {"error": {code, message, details}}.
// Expected failures are HiveSyncErrors with a stable code; the SQL functions of the API raise
// SQLSTATEs HS400, HS404 and HS409 with our code in DETAIL and a readable message, which are
// translated here. Anything else is logged in full and answered as a bare 500.

import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { ZodError } from 'zod'

import { errorCodes, isErrorCode } from '../../shared/error-codes.ts'
import { HiveSyncError } from '../../shared/errors.ts'
import { log } from './log.ts'

const databaseStatuses: Record<string, number> = { HS400: 400, HS404: 404, HS409: 409 }

interface DatabaseError {
  code?: string
  message: string
  detail?: string
  hint?: string
}

export function toHiveSyncError(error: unknown): HiveSyncError {
  if (error instanceof HiveSyncError) return error

  const database = error as DatabaseError
  const status = typeof database?.code === 'string' ? databaseStatuses[database.code] : undefined
  if (status && database.detail && isErrorCode(database.detail)) {
    return new HiveSyncError(database.detail, database.message, {
      status,
      details: database.hint ? { field: database.hint } : undefined,
    })
  }

  if (error instanceof HTTPException && error.status === 400) {
    return new HiveSyncError('invalid_json', 'The request body is not valid JSON.', { status: 400 })
  }
  if (error instanceof HTTPException && error.status === 415) {
    return new HiveSyncError(
      'unsupported_media_type',
      'Send the body as JSON with "Content-Type: application/json".',
      { status: 415 },
    )
  }

  return new HiveSyncError('internal', 'Something went wrong on our side; it has been logged.', {
    status: 500,
    cause: error,
  })
}

export function errorResponse(c: Context, error: HiveSyncError): Response {
  // A code that is not in the published list (a configuration error surfacing in a request, say)
  // is reported as internal: callers only ever see listed codes.
  const listed = isErrorCode(error.code) && error.status === errorCodes[error.code].status

  if (error.status >= 500 || !listed) {
    const cause = error.cause ?? error
    log('error', 'request failed', {
      method: c.req.method,
      route: c.req.routePath,
      code: error.code,
      error: cause instanceof Error ? cause.message : String(cause),
      stack: cause instanceof Error ? cause.stack : undefined,
    })
  }

  const body = listed
    ? { error: { code: error.code, message: error.message, details: error.details ?? null } }
    : {
        error: {
          code: 'internal',
          message: 'Something went wrong on our side; it has been logged.',
          details: null,
        },
      }
  return c.json(body, (listed ? error.status : 500) as ContentfulStatusCode)
}

const targetNames: Record<string, string> = { json: 'body', param: 'path', query: 'query' }

export function validationError(error: ZodError, target: string): HiveSyncError {
  const where = targetNames[target] ?? target
  const issues = error.issues.map((issue) => {
    const keys = 'keys' in issue && Array.isArray(issue.keys) ? issue.keys : []
    const path = [...issue.path, ...(keys.length === 1 ? keys : [])].map(String)
    return { field: [where, ...path].join('.'), message: issue.message }
  })

  // Filters are validated by their own schema; their failures keep the code clients know them by.
  const inFilters = target === 'json' && error.issues.every((issue) => issue.path[0] === 'filters')
  const first = issues[0]!
  return new HiveSyncError(
    inFilters ? 'invalid_filters' : 'invalid_request',
    `Invalid ${first.field}: ${first.message}`,
    { status: 400, details: { issues } },
  )
}
