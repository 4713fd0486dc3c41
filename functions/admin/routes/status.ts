// What the admin sees before and during a send: both layers of the kill switch (the database one
// with who switched it and when), and what is left of each sending budget in its rolling window.

import { createRoute } from '@hono/zod-openapi'

import { messagingStatusSchema } from '../../../shared/messaging-status.ts'
import { asCaller, type FunctionApp, type FunctionDeps } from '../../_shared/app.ts'
import { currentEnv } from '../../_shared/pipeline/live-env.ts'
import { readMessagingStatus } from '../../_shared/pipeline/messaging-status.ts'
import { errorResponses, jsonResponse } from '../route-kit.ts'

export const statusRoute = createRoute({
  method: 'get',
  path: '/messaging/status',
  summary: 'The kill switch and what is left of each sending budget',
  responses: {
    200: jsonResponse(messagingStatusSchema, 'Kill switch layers, budgets and the queue.'),
    ...errorResponses(),
  },
})

export function registerStatus(app: FunctionApp, { sql }: FunctionDeps): void {
  app.openapi(statusRoute, async (c) => {
    const status = await asCaller(sql, c, (tx) => readMessagingStatus(tx, { env: currentEnv() }))
    return c.json(status, 200)
  })
}
