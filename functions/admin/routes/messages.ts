// The History: messages newest first, and one message in full.

import { createRoute } from '@hono/zod-openapi'

import {
  listMessagesQuerySchema,
  messageDetailSchema,
  messageIdParamsSchema,
  messageListSchema,
} from '../../../shared/api-schemas.ts'
import { asCaller, type FunctionApp, type FunctionDeps } from '../../_shared/app.ts'
import { toMessageDetail, toMessageSummary, type MessageRow } from '../message-view.ts'
import { errorResponses, jsonResponse, messageNotFound } from '../route-kit.ts'

export const listMessagesRoute = createRoute({
  method: 'get',
  path: '/messaging/messages',
  summary: 'List messages, newest first',
  request: { query: listMessagesQuerySchema },
  responses: {
    200: jsonResponse(messageListSchema, 'One page of messages.'),
    ...errorResponses(400),
  },
})

export const messageDetailRoute = createRoute({
  method: 'get',
  path: '/messaging/messages/{id}',
  summary: 'A message in full: filters, rendered body, counters and error summary',
  request: { params: messageIdParamsSchema },
  responses: {
    200: jsonResponse(messageDetailSchema, 'The message.'),
    ...errorResponses(400, 404),
  },
})

export function registerMessages(app: FunctionApp, { sql }: FunctionDeps): void {
  app.openapi(listMessagesRoute, async (c) => {
    const { page, page_size, status } = c.req.valid('query')

    const { rows, total } = await asCaller(sql, c, async (tx) => {
      const where = status ? tx`where status = ${status}` : tx``
      const rows = await tx<MessageRow[]>`
        select * from public.messages ${where}
        order by created_at desc, id desc
        limit ${page_size} offset ${(page - 1) * page_size}
      `
      const [{ total }] = await tx<[{ total: number }]>`
        select count(*)::int as total from public.messages ${where}
      `
      return { rows, total }
    })
    return c.json({ items: rows.map(toMessageSummary), page, page_size, total }, 200)
  })

  app.openapi(messageDetailRoute, async (c) => {
    const { id } = c.req.valid('param')
    const [row] = await asCaller(
      sql,
      c,
      (tx) => tx<MessageRow[]>`select * from public.messages where id = ${id}`,
    )
    if (!row) throw messageNotFound(id)
    return c.json(toMessageDetail(row), 200)
  })
}
