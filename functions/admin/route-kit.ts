// Building blocks of the admin routes' OpenAPI definitions, so each route file states only what is
// particular to it.

import type { z } from 'zod'

import { errorBodySchema } from '../../shared/api-schemas.ts'
import { HiveSyncError } from '../../shared/errors.ts'

export function jsonBody<T extends z.ZodType>(schema: T) {
  return { content: { 'application/json': { schema } }, required: true }
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { content: { 'application/json': { schema } }, description }
}

const errorDescriptions: Record<number, string> = {
  400: 'Invalid input; `details.issues` names each field.',
  401: 'No token, or an invalid or expired one.',
  403: 'The caller is not a messaging admin.',
  404: 'No message with this id.',
  409: 'The message is not in a state that allows this.',
  413: 'The body is too large.',
  415: 'The body is not JSON.',
}

/** The error responses a route can give; every admin route can answer 401 and 403. */
export function errorResponses(...statuses: number[]) {
  return Object.fromEntries(
    [401, 403, ...statuses].map((status) => [
      status,
      jsonResponse(errorBodySchema, errorDescriptions[status] ?? 'An error.'),
    ]),
  )
}

export function messageNotFound(id: number): HiveSyncError {
  return new HiveSyncError('message_not_found', `Message ${id} does not exist.`, { status: 404 })
}

export function notADraft(id: number, status: string): HiveSyncError {
  return new HiveSyncError(
    'invalid_state',
    `Message ${id} is ${status}; only a draft can be changed or deleted.`,
    { status: 409, details: { status } },
  )
}

/** An expiry must lie ahead, or the banner would never show. */
export function assertFutureExpiry(expiresAt: string | null | undefined): void {
  if (expiresAt && Date.parse(expiresAt) <= Date.now()) {
    throw new HiveSyncError(
      'invalid_request',
      'Invalid body.expires_at: the expiry is in the past; choose a later instant or null.',
      { status: 400, details: { issues: [{ field: 'body.expires_at', message: 'in the past' }] } },
    )
  }
}
