// Editing and deleting drafts. Once a message is queued it is history: it can only be cancelled
// or retracted, never rewritten.

import { createRoute } from '@hono/zod-openapi'

import {
  messageDetailSchema,
  messageIdParamsSchema,
  updateDraftSchema,
} from '../../../shared/api-schemas.ts'
import { asCaller, type FunctionApp, type FunctionDeps } from '../../_shared/app.ts'
import type { Tx } from '../../_shared/db.ts'
import { toMessageDetail, type MessageRow } from '../message-view.ts'
import {
  assertFutureExpiry,
  errorResponses,
  jsonBody,
  jsonResponse,
  messageNotFound,
  notADraft,
} from '../route-kit.ts'

export const updateDraftRoute = createRoute({
  method: 'patch',
  path: '/messaging/messages/{id}',
  summary: 'Change a draft',
  request: { params: messageIdParamsSchema, body: jsonBody(updateDraftSchema) },
  responses: {
    200: jsonResponse(messageDetailSchema, 'The changed draft.'),
    ...errorResponses(400, 404, 409, 413, 415),
  },
})

export const deleteDraftRoute = createRoute({
  method: 'delete',
  path: '/messaging/messages/{id}',
  summary: 'Delete a draft',
  request: { params: messageIdParamsSchema },
  responses: { 204: { description: 'The draft is gone.' }, ...errorResponses(400, 404, 409) },
})

export function registerDrafts(app: FunctionApp, { sql }: FunctionDeps): void {
  app.openapi(updateDraftRoute, async (c) => {
    const { id } = c.req.valid('param')
    const patch = c.req.valid('json')
    assertFutureExpiry(patch.expires_at)

    const row = await asCaller(sql, c, async (tx) => {
      await lockDraft(tx, id)

      const { filters, ...fields } = patch
      const changes: Record<string, unknown> = { ...fields, updated_at: new Date() }
      if (filters) changes.filters_json = tx.json(filters as never)
      const [row] = await tx<MessageRow[]>`
        update public.messages set ${tx(changes)} where id = ${id} returning *
      `
      return row!
    })
    return c.json(toMessageDetail(row), 200)
  })

  app.openapi(deleteDraftRoute, async (c) => {
    const { id } = c.req.valid('param')
    await asCaller(sql, c, async (tx) => {
      await lockDraft(tx, id)
      await tx`delete from public.messages where id = ${id}`
    })
    return c.body(null, 204)
  })
}

async function lockDraft(tx: Tx, id: number): Promise<void> {
  const [message] = await tx<{ status: string }[]>`
    select status from public.messages where id = ${id} for update
  `
  if (!message) throw messageNotFound(id)
  if (message.status !== 'draft') throw notADraft(id, message.status)
}
