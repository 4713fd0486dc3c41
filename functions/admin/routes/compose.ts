import { createRoute } from '@hono/zod-openapi'

import { composeMessageSchema, messageDetailSchema } from '../../../shared/api-schemas.ts'
import { asCaller, type FunctionApp, type FunctionDeps } from '../../_shared/app.ts'
import { toMessageDetail, type MessageRow } from '../message-view.ts'
import { assertFutureExpiry, errorResponses, jsonBody, jsonResponse } from '../route-kit.ts'

export const composeRoute = createRoute({
  method: 'post',
  path: '/messaging/compose',
  summary: 'Create a draft message',
  request: { body: jsonBody(composeMessageSchema) },
  responses: {
    201: jsonResponse(messageDetailSchema, 'The new draft.'),
    ...errorResponses(400, 413, 415),
  },
})

export function registerCompose(app: FunctionApp, { sql }: FunctionDeps): void {
  app.openapi(composeRoute, async (c) => {
    const draft = c.req.valid('json')
    assertFutureExpiry(draft.expires_at)

    const row = await asCaller(sql, c, async (tx) => {
      const [row] = await tx<MessageRow[]>`
        insert into public.messages (
          created_by_admin_id, subject, body_markdown, channel, filters_json, expires_at
        ) values (
          ${c.get('caller').id}, ${draft.subject}, ${draft.body_markdown}, ${draft.channel},
          ${tx.json(draft.filters as never)}, ${draft.expires_at ?? null}
        )
        returning *
      `
      return row!
    })
    return c.json(toMessageDetail(row), 201)
  })
}
