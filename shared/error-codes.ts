// The stable error codes of the HTTP API, each with its HTTP status and what it means. Callers may
// branch on a code; the list is published in the OpenAPI document and never reuses a code for a
// different meaning.

export const errorCodes = {
  invalid_request: {
    status: 400,
    description: 'A body, path or query parameter is missing or invalid; details name the field.',
  },
  invalid_json: { status: 400, description: 'The request body is not valid JSON.' },
  invalid_filters: {
    status: 400,
    description: 'The recipient filters are invalid; details name the offending key.',
  },
  invalid_content: {
    status: 400,
    description: 'The message cannot be sent as it is (empty subject or body, expiry in the past).',
  },
  empty_audience: {
    status: 400,
    description: 'The filters match nobody on the chosen channel, so there is nothing to send.',
  },
  missing_token: {
    status: 401,
    description: 'No bearer token was sent; sign in and send it in the Authorization header.',
  },
  invalid_token: {
    status: 401,
    description: 'The bearer token is malformed, wrongly signed or not for this project.',
  },
  token_expired: { status: 401, description: 'The bearer token has expired; refresh the session.' },
  not_admin: { status: 403, description: 'The caller is signed in but is not a messaging admin.' },
  message_not_found: {
    status: 404,
    description: 'No message with this id exists (or, for a user, none was delivered to them).',
  },
  route_not_found: { status: 404, description: 'No endpoint answers this method and path.' },
  invalid_state: {
    status: 409,
    description: 'The message is in a state that does not allow this action; details name it.',
  },
  payload_too_large: { status: 413, description: 'The request body exceeds the size limit.' },
  unsupported_media_type: {
    status: 415,
    description: 'The body must be sent as JSON with Content-Type: application/json.',
  },
  daily_cap_reached: {
    status: 429,
    description: 'The configured number of messages per day has been sent; try again tomorrow.',
  },
  email_disabled: {
    status: 503,
    description: 'Email sending is switched off by the kill switch; switch it back on first.',
  },
  internal: {
    status: 500,
    description: 'An unexpected failure; it was logged and the response carries no internals.',
  },
} as const satisfies Record<string, { status: number; description: string }>

export type ErrorCode = keyof typeof errorCodes

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCodes, code)
}
