// The OpenAPI document, generated from the same zod schemas that validate requests, so it cannot
// drift from what the function accepts. Error codes are listed with their statuses.

import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'

import { errorCodes } from '../../../shared/error-codes.ts'
import type { FunctionApp } from '../../_shared/app.ts'
import { activeBannersRoute, dismissRoute, userBasePath } from '../../_shared/user-routes.ts'
import { adminFunctionName } from '../function-name.ts'
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

  let document: Record<string, unknown> | undefined
  app.openapi(openApiRoute, (c) => c.json((document ??= buildOpenApiDocument(app)), 200))
}

/** The admin function's routes and the user function's, each under its function's path. */
export function buildOpenApiDocument(admin: FunctionApp): Record<string, unknown> {
  const docs = new OpenAPIHono()
  for (const definition of admin.openAPIRegistry.definitions) {
    if (definition.type === 'route') {
      docs.openAPIRegistry.registerPath({
        ...definition.route,
        path: `/${adminFunctionName}${definition.route.path}`,
        tags: ['admin'],
      })
    } else {
      docs.openAPIRegistry.definitions.push(definition)
    }
  }
  for (const route of [activeBannersRoute, dismissRoute]) {
    docs.openAPIRegistry.registerPath({
      ...route,
      path: `${userBasePath}${route.path}`,
      tags: ['user'],
      description: 'Served by the user function; takes the signed-in user’s token.',
    })
  }

  const codes = Object.entries(errorCodes)
    .map(([code, { status, description }]) => `- \`${code}\` (${status}): ${description}`)
    .join('\n')

  return {
    ...docs.getOpenAPI31Document({
      openapi: '3.1.0',
      info: {
        title: 'HiveSync Messaging API',
        version: '1',
        description:
          'Compose, estimate, send and follow broadcasts (the admin function, every route of ' +
          'which requires an admin’s bearer token), and the banners client apps show (the user ' +
          'function, with the user’s token). Errors are {"error": {code, message, details}}; ' +
          `the codes:\n\n${codes}`,
      },
      servers: [{ url: '/functions/v1', description: 'Supabase Edge Functions' }],
      security: [{ bearerAuth: [] }],
    }),
    'x-error-codes': errorCodes,
  }
}
