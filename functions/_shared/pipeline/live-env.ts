// The process environment as it is now, under Deno (Edge Runtime) or Node: the send checks and
// the status read HIVESYNC_EMAIL_DISABLED and the limits at the moment of the request.

import type { Env } from '../config.ts'

interface DenoEnv {
  Deno?: { env: { get(name: string): string | undefined } }
}

export function currentEnv(): Env {
  const deno = (globalThis as DenoEnv).Deno
  if (deno) return new Proxy({} as Env, { get: (_target, name) => deno.env.get(String(name)) })
  return process.env
}
