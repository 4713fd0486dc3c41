// The database layer of the email kill switch. The drain also honours HIVESYNC_EMAIL_DISABLED;
// this is the button the admin can press mid-send. Who pressed it, and when, is recorded by a
// trigger from the caller's own claims.

import { createRoute } from '@hono/zod-openapi'

import { killSwitchRequestSchema, killSwitchSchema } from '../../../shared/api-schemas.ts'
import { asCaller, type FunctionApp, type FunctionDeps } from '../../_shared/app.ts'
import { isoOrNull } from '../message-view.ts'
import { errorResponses, jsonBody, jsonResponse } from '../route-kit.ts'

export const readKillSwitchRoute = createRoute({
  method: 'get',
  path: '/messaging/kill-switch',
  summary: 'Whether email sending is switched off, by whom and since when',
  responses: { 200: jsonResponse(killSwitchSchema, 'The kill switch.'), ...errorResponses() },
})

export const setKillSwitchRoute = createRoute({
  method: 'put',
  path: '/messaging/kill-switch',
  summary: 'Switch email sending off or back on',
  request: { body: jsonBody(killSwitchRequestSchema) },
  responses: {
    200: jsonResponse(killSwitchSchema, 'The kill switch after the change.'),
    ...errorResponses(400, 413, 415),
  },
})

interface SettingsRow {
  email_disabled: boolean
  email_disabled_changed_by: string | null
  email_disabled_changed_at: Date | null
}

export function registerKillSwitch(app: FunctionApp, { sql }: FunctionDeps): void {
  app.openapi(readKillSwitchRoute, async (c) => {
    const [row] = await asCaller(
      sql,
      c,
      (tx) => tx<SettingsRow[]>`select * from public.messaging_settings`,
    )
    return c.json(toKillSwitch(row!), 200)
  })

  app.openapi(setKillSwitchRoute, async (c) => {
    const { email_disabled } = c.req.valid('json')
    const [row] = await asCaller(
      sql,
      c,
      (tx) => tx<SettingsRow[]>`
        update public.messaging_settings set email_disabled = ${email_disabled}
        where id returning *
      `,
    )
    return c.json(toKillSwitch(row!), 200)
  })
}

function toKillSwitch(row: SettingsRow) {
  return {
    email_disabled: row.email_disabled,
    changed_by: row.email_disabled_changed_by,
    changed_at: isoOrNull(row.email_disabled_changed_at),
  }
}
