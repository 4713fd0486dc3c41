// The admin function: the spec's /admin/messaging/* endpoints. Every route needs a valid token
// (401 otherwise, before any input is read) of a messaging admin (403 otherwise), and runs its
// queries as that admin, under row-level security.

import type { MiddlewareHandler } from 'hono'

import { HiveSyncError } from '../../shared/errors.ts'
import {
  asCaller,
  authenticate,
  createFunctionApp,
  limitBody,
  type AppEnv,
  type FunctionApp,
  type FunctionDeps,
} from '../_shared/app.ts'
import type { Sql } from '../_shared/db.ts'
import { adminFunctionName } from './function-name.ts'
import { registerCancelAndRetract } from './routes/cancel-retract.ts'
import { registerCompose } from './routes/compose.ts'
import { registerDeliveries } from './routes/deliveries.ts'
import { registerDrafts } from './routes/drafts.ts'
import { registerEstimate } from './routes/estimate.ts'
import { registerKillSwitch } from './routes/kill-switch.ts'
import { registerMessages } from './routes/messages.ts'
import { registerOpenApi } from './routes/openapi.ts'
import { registerPreview } from './routes/preview.ts'
import { registerSend } from './routes/send.ts'
import { registerStatus } from './routes/status.ts'

export { adminFunctionName }

export function createAdminApp(deps: FunctionDeps): FunctionApp {
  const app = createFunctionApp(adminFunctionName)
  app.use('*', authenticate(deps.config), requireAdmin(deps.sql), limitBody(deps.config))

  registerCompose(app, deps)
  registerDrafts(app, deps)
  registerEstimate(app, deps)
  registerPreview(app, deps)
  registerSend(app, deps)
  registerMessages(app, deps)
  registerDeliveries(app, deps)
  registerCancelAndRetract(app, deps)
  registerKillSwitch(app, deps)
  registerStatus(app, deps)
  registerOpenApi(app)
  return app
}

function requireAdmin(sql: Sql): MiddlewareHandler<AppEnv> {
  return async function checkAdmin(c, next) {
    const [row] = await asCaller(
      sql,
      c,
      (tx) => tx<{ is_admin: boolean }[]>`select public.is_admin() as is_admin`,
    )
    if (!row?.is_admin) {
      throw new HiveSyncError(
        'not_admin',
        'This account is not a messaging admin; sign in with the admin account.',
        { status: 403 },
      )
    }
    await next()
  }
}
