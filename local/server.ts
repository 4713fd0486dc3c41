// One Node process serving every function at /functions/v1/<name>/…, as Supabase does. Each
// function's app sees the path Edge Runtime would hand it (/<name>/…), so the very same app
// objects run here, in tests and on Supabase.

import { serve, type ServerType } from '@hono/node-server'
import { Hono } from 'hono'

import { HiveSyncError } from '../shared/errors.ts'
import { createAdminApp } from '../functions/admin/app.ts'
import type { FunctionApp, FunctionDeps } from '../functions/_shared/app.ts'
import { createUserApp } from '../functions/user/app.ts'

export const defaultApiPort = 54341

/**
 * Every function the local stack serves, by its name in the URL. Functions with configuration of
 * their own (the drain, with its secret and provider) are built by the caller and passed in.
 */
export function createFunctionApps(
  deps: FunctionDeps,
  others: Array<[string, FunctionApp]> = [],
): Map<string, FunctionApp> {
  return new Map([['admin', createAdminApp(deps)], ['user', createUserApp(deps)], ...others])
}

export function createLocalApp(functions: Map<string, FunctionApp>): Hono {
  const names = [...functions.keys()].join(', ')
  const root = new Hono()
  root.mount('/functions/v1', (request) => {
    const name = new URL(request.url).pathname.split('/')[1] ?? ''
    const app = functions.get(name)
    if (app) return app.fetch(request)
    return notFound(`No function named "${name}"; the functions are ${names}.`)
  })
  root.notFound(() => notFound(`Functions are served under /functions/v1/<name>: ${names}.`))
  return root
}

function notFound(message: string): Response {
  return Response.json(
    { error: { code: 'route_not_found', message, details: null } },
    { status: 404 },
  )
}

export interface ApiServer {
  /** Base URL of the functions, like https://<project>.supabase.co/functions/v1. */
  functionsUrl: string
  /** What supabase-js takes as its URL. */
  url: string
  port: number
  close(): Promise<void>
}

export function startApiServer(
  deps: FunctionDeps,
  options: { port: number; hostname?: string; others?: Array<[string, FunctionApp]> },
): Promise<ApiServer> {
  const app = createLocalApp(createFunctionApps(deps, options.others))
  const hostname = options.hostname ?? '127.0.0.1'

  return new Promise((resolve, reject) => {
    let server: ServerType
    try {
      server = serve({ fetch: app.fetch, port: options.port, hostname }, (info) => {
        const url = `http://${hostname}:${info.port}`
        resolve({
          url,
          functionsUrl: `${url}/functions/v1`,
          port: info.port,
          close: () => new Promise((done) => server.close(() => done())),
        })
      })
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'EADDRINUSE'
            ? new HiveSyncError(
                'local_api_port_busy',
                `Port ${options.port} is already taken, so the API cannot start. Set ` +
                  `HIVESYNC_API_PORT to a free port, or stop the program listening on it.`,
                { cause: error },
              )
            : error,
        ),
      )
    } catch (error) {
      reject(error)
    }
  })
}

export function apiPort(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.HIVESYNC_API_PORT
  if (raw === undefined || raw === '') return defaultApiPort

  const port = Number(raw)
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new HiveSyncError(
      'configuration',
      `HIVESYNC_API_PORT must be a port number between 1 and 65535, not "${raw}".`,
    )
  }
  return port
}
