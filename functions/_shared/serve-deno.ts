// The Deno entry of a function, as Supabase Edge Runtime runs it: configuration from the
// environment, checked once at start (a misconfigured function fails to boot, naming the
// variable), one connection pool, and Deno.serve. Deno's globals are reached through globalThis
// so the same file also type-checks under Node's types.

import { readDatabaseUrl, readFunctionConfig } from './config.ts'
import { connect } from './db.ts'
import type { FunctionApp, FunctionDeps } from './app.ts'

interface DenoGlobals {
  env: { toObject(): Record<string, string> }
  serve(handler: (request: Request) => Response | Promise<Response>): unknown
}

export function serveWithDeno(createApp: (deps: FunctionDeps) => FunctionApp): void {
  const deno = (globalThis as unknown as { Deno: DenoGlobals }).Deno
  const env = deno.env.toObject()

  const config = readFunctionConfig(env)
  // A small pool per isolate: Edge Runtime runs many isolates, and the pooler multiplexes them.
  const sql = connect(readDatabaseUrl(env), { max: 3 })
  const app = createApp({ sql, config })
  deno.serve((request) => app.fetch(request))
}
