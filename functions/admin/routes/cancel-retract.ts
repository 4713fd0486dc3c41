// Stopping a message: cancel one still queued or sending (its deliveries not yet claimed by the
// drain are cancelled), or retract the banners of one already sent.

import { createRoute } from '@hono/zod-openapi'

import { messageDetailSchema, messageIdParamsSchema } from '../../../shared/api-schemas.ts'
import { asCaller, type FunctionApp, type FunctionDeps } from '../../_shared/app.ts'
import { toMessageDetail, type MessageRow } from '../message-view.ts'
import { errorResponses, jsonResponse } from '../route-kit.ts'

export const cancelRoute = createRoute({
  method: 'post',
  path: '/messaging/messages/{id}/cancel',
  summary: 'Cancel a queued or sending message',
  request: { params: messageIdParamsSchema },
  responses: {
    200: jsonResponse(messageDetailSchema, 'The cancelled message.'),
    ...errorResponses(400, 404, 409),
  },
})

export const retractRoute = createRoute({
  method: 'post',
  path: '/messaging/messages/{id}/retract',
  summary: 'Withdraw the banners of a sent message',
  request: { params: messageIdParamsSchema },
  responses: {
    200: jsonResponse(messageDetailSchema, 'The retracted message.'),
    ...errorResponses(400, 404, 409),
  },
})

export function registerCancelAndRetract(app: FunctionApp, { sql }: FunctionDeps): void {
  app.openapi(cancelRoute, async (c) => {
    const { id } = c.req.valid('param')
    const [row] = await asCaller(
      sql,
      c,
      (tx) => tx<MessageRow[]>`select * from public.cancel_message(${id})`,
    )
    return c.json(toMessageDetail(row!), 200)
  })

  app.openapi(retractRoute, async (c) => {
    const { id } = c.req.valid('param')
    const [row] = await asCaller(
      sql,
      c,
      (tx) => tx<MessageRow[]>`select * from public.retract_message(${id})`,
    )
    return c.json(toMessageDetail(row!), 200)
  })
}
