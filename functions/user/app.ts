// The user function: the spec's /user/messages/* endpoints that client apps call with the signed-
// in user's token. Some apps run in a web view, so configured browser origins get CORS headers;
// preflight requests are answered before authentication, as browsers send them without a token.

import { cors } from 'hono/cors'

import {
  authenticate,
  createFunctionApp,
  limitBody,
  type FunctionApp,
  type FunctionDeps,
} from '../_shared/app.ts'
import { registerBanners } from './routes/banners.ts'

export const userFunctionName = 'user'

export function createUserApp(deps: FunctionDeps): FunctionApp {
  const app = createFunctionApp(userFunctionName)
  const origins = deps.config.corsOrigins
  if (origins.length > 0) {
    app.use(
      '*',
      cors({
        origin: origins.includes('*') ? '*' : origins,
        allowMethods: ['GET', 'POST', 'OPTIONS'],
        allowHeaders: ['authorization', 'content-type', 'apikey', 'x-client-info'],
        maxAge: 600,
      }),
    )
  }
  app.use('*', authenticate(deps.config), limitBody(deps.config))

  registerBanners(app, deps)
  return app
}
