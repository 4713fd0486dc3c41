// Calling functions in tests: tokens signed as Supabase Auth would sign them, the configuration
// the suite runs with, and a helper that sends JSON to an app and reads the answer.

import { readFunctionConfig, type FunctionConfig } from '../../functions/_shared/config.ts'
import type { FunctionApp } from '../../functions/_shared/app.ts'
import { signAccessToken } from '../../local/demo-accounts.ts'

export const testJwtSecret = 'test-jwt-secret-of-the-hivesync-suite-0123456789'
export const otherJwtSecret = 'some-other-project-secret-0123456789-abcdefghij'

export function testConfig(env: Record<string, string> = {}): FunctionConfig {
  return readFunctionConfig({ HIVESYNC_JWT_SECRET: testJwtSecret, ...env }, { localMode: false })
}

export function tokenFor(
  user: { id: string; email?: string | null },
  options: { secret?: string; expiresInSeconds?: number; now?: Date } = {},
): Promise<string> {
  return signAccessToken(
    options.secret ?? testJwtSecret,
    { id: user.id, email: user.email ?? undefined },
    options,
  )
}

export interface ApiResponse<T = any> {
  status: number
  body: T
  headers: Headers
}

/** Sends a request to an app as a client would, and reads the JSON answer. */
export async function callApp<T = any>(
  app: FunctionApp,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  let body: string | undefined
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body)
    headers['content-type'] ??= 'application/json'
  }

  const response = await app.request(path, { method, headers, body })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = text ? JSON.parse(text) : null
  } catch {
    // Not JSON: the raw text is the body.
  }
  return { status: response.status, body: parsed as T, headers: response.headers }
}
