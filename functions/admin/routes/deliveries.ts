// A message's deliveries, newest first, optionally of one status or channel. The total comes from
// the message's counters, which the delivery triggers keep exact, so a page of a million-recipient
// message never counts rows.

import { createRoute } from '@hono/zod-openapi'

import {
  deliveryListSchema,
  listDeliveriesQuerySchema,
  messageIdParamsSchema,
  type Delivery,
} from '../../../shared/api-schemas.ts'
import { asCaller, type FunctionApp, type FunctionDeps } from '../../_shared/app.ts'
import { deliveryCounts, isoOrNull } from '../message-view.ts'
import { errorResponses, jsonResponse, messageNotFound } from '../route-kit.ts'

export const deliveriesRoute = createRoute({
  method: 'get',
  path: '/messaging/messages/{id}/deliveries',
  summary: 'The deliveries of a message, by status, paginated',
  request: { params: messageIdParamsSchema, query: listDeliveriesQuerySchema },
  responses: {
    200: jsonResponse(deliveryListSchema, 'One page of deliveries.'),
    ...errorResponses(400, 404),
  },
})

type DeliveryRow = Omit<Delivery, 'created_at' | 'sent_at'> & {
  created_at: Date
  sent_at: Date | null
}

export function registerDeliveries(app: FunctionApp, { sql }: FunctionDeps): void {
  app.openapi(deliveriesRoute, async (c) => {
    const { id } = c.req.valid('param')
    const { page, page_size, status, channel } = c.req.valid('query')

    const { rows, total } = await asCaller(sql, c, async (tx) => {
      const [message] = await tx<Record<string, unknown>[]>`
        select * from public.messages where id = ${id}
      `
      if (!message) throw messageNotFound(id)

      const rows = await tx<DeliveryRow[]>`
        select d.id, d.user_id, u.email, d.channel, d.status, d.error, d.created_at, d.sent_at,
               d.attempts
        from public.message_deliveries d
        left join public.users u on u.id = d.user_id
        where d.message_id = ${id}
          ${status ? tx`and d.status = ${status}` : tx``}
          ${channel ? tx`and d.channel = ${channel}` : tx``}
        order by d.id desc
        limit ${page_size} offset ${(page - 1) * page_size}
      `
      const channels = channel ? [channel] : (['in_app', 'email'] as const)
      const total = channels
        .map((name) => deliveryCounts(message, name))
        .reduce((sum, counts) => sum + (status ? counts[status] : counts.total), 0)
      return { rows, total }
    })

    const items = rows.map((row) => ({
      ...row,
      created_at: row.created_at.toISOString(),
      sent_at: isoOrNull(row.sent_at),
    }))
    return c.json({ items, page, page_size, total }, 200)
  })
}
