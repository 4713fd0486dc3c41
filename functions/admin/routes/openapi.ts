// The OpenAPI document, generated from the same zod schemas that validate requests, so it cannot
// drift from what the function accepts. Error codes are listed with their statuses.

import { createRoute, z } from '@hono/zod-openapi'

import { errorCodes } from '../../../shared/error-codes.ts'
import type { FunctionApp } from '../../_shared/app.ts'
import { errorResponses, jsonResponse } from '../route-kit.ts'

export const openApiRoute = createRoute({
  method: 'get',
  path: '/messaging/openapi.json',
  summary: 'This document',
  responses: {
    200: jsonResponse(z.record(z.string(), z.unknown()), 'The OpenAPI 3.1 document.'),
    ...errorResponses(),
  },
})

export function registerOpenApi(app: FunctionApp): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'The signed-in admin’s Supabase access token.',
  })

  app.openapi(openApiRoute, (c) => c.json(buildOpenApiDocument(app), 200))
}

export function buildOpenApiDocument(app: FunctionApp): Record<string, unknown> {
  const codes = Object.entries(errorCodes)
    .map(([code, { status, description }]) => `- \`${code}\` (${status}): ${description}`)
    .join('\n')

  return {
    ...app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: {
        title: 'HiveSync Messaging admin API',
        version: '1',
        description:
          'Compose, estimate, send and follow broadcasts. Every route requires an admin’s bearer ' +
          `token. Errors are {"error": {code, message, details}}; the codes:\n\n${codes}`,
      },
      servers: [{ url: '/functions/v1', description: 'Supabase Edge Functions' }],
      security: [{ bearerAuth: [] }],
    }),
    'x-error-codes': errorCodes,
  }
}
