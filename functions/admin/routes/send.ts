// Sending a draft queues it; the drain does the rest. The checks and the change of state happen
// in public.queue_message, atomically; what runs before it here are the checks SQL cannot make.

import { createRoute } from '@hono/zod-openapi'

import { messageDetailSchema, messageIdParamsSchema } from '../../../shared/api-schemas.ts'
import { parseFilters } from '../../../shared/filters.ts'
import { asCaller, type FunctionApp, type FunctionDeps } from '../../_shared/app.ts'
import type { Tx } from '../../_shared/db.ts'
import { currentEnv } from '../../_shared/pipeline/live-env.ts'
import { assertMessageCanBeQueued } from '../../_shared/pipeline/sending-limits.ts'
import { toMessageDetail, type MessageRow } from '../message-view.ts'
import { errorResponses, jsonResponse, messageNotFound } from '../route-kit.ts'

export const sendRoute = createRoute({
  method: 'post',
  path: '/messaging/send/{id}',
  summary: 'Send a draft: validate it, estimate its audience and queue it',
  request: { params: messageIdParamsSchema },
  responses: {
    200: jsonResponse(messageDetailSchema, 'The queued message with its target counts.'),
    ...errorResponses(400, 404, 409, 429, 503),
  },
})

export function registerSend(app: FunctionApp, { sql }: FunctionDeps): void {
  app.openapi(sendRoute, async (c) => {
    const { id } = c.req.valid('param')
    const row = await asCaller(sql, c, (tx) => queueMessage(tx, id))
    return c.json(toMessageDetail(row), 200)
  })
}

/** Queues a draft in the caller's transaction; the place to add further send-time checks. */
export async function queueMessage(tx: Tx, id: number): Promise<MessageRow> {
  // Filters were valid when stored, but the filter schema may have tightened since.
  const [stored] = await tx<{ filters_json: unknown }[]>`
    select filters_json from public.messages where id = ${id}
  `
  if (!stored) throw messageNotFound(id)
  parseFilters(stored.filters_json)

  // The daily cap (429) and the kill switch for email (503), under a lock held to commit.
  await assertMessageCanBeQueued(tx, id, { env: currentEnv() })

  const [row] = await tx<MessageRow[]>`select * from public.queue_message(${id})`
  return row!
}
