// The preview shows exactly what the body becomes: the banner's HTML, and the email's subject,
// HTML body and text part as the drain will send them (inside the email template).

import { createRoute } from '@hono/zod-openapi'

import { messageIdParamsSchema, previewResponseSchema } from '../../../shared/api-schemas.ts'
import { asCaller, type FunctionApp, type FunctionDeps } from '../../_shared/app.ts'
import { markdownToText, renderMarkdown } from '../../_shared/render-markdown.ts'
import { errorResponses, jsonResponse, messageNotFound } from '../route-kit.ts'

export const previewRoute = createRoute({
  method: 'get',
  path: '/messaging/messages/{id}/preview',
  summary: 'Preview a message as a banner and as an email',
  request: { params: messageIdParamsSchema },
  responses: {
    200: jsonResponse(previewResponseSchema, 'The rendered banner and email.'),
    ...errorResponses(400, 404),
  },
})

export function registerPreview(app: FunctionApp, { sql }: FunctionDeps): void {
  app.openapi(previewRoute, async (c) => {
    const { id } = c.req.valid('param')
    const [message] = await asCaller(
      sql,
      c,
      (tx) => tx<{ subject: string; body_markdown: string }[]>`
        select subject, body_markdown from public.messages where id = ${id}
      `,
    )
    if (!message) throw messageNotFound(id)

    const html = renderMarkdown(message.body_markdown)
    return c.json(
      {
        banner: { subject: message.subject, body_html: html },
        email: { subject: message.subject, html, text: markdownToText(message.body_markdown) },
      },
      200,
    )
  })
}
