// The user function's routes as OpenAPI definitions. They live here, not in functions/user, so the
// admin function's OpenAPI document can describe the whole API without importing another function.

import { createRoute } from '@hono/zod-openapi'

import { errorBodySchema, messageIdParamsSchema } from '../../shared/api-common.ts'
import { activeBannersSchema, dismissalSchema } from '../../shared/banner-schemas.ts'

/** Where the user function serves these paths. */
export const userBasePath = '/user'

const errorResponse = (description: string) => ({
  content: { 'application/json': { schema: errorBodySchema } },
  description,
})

export const activeBannersRoute = createRoute({
  method: 'get',
  path: '/messages/active',
  summary: 'The caller’s active banners, newest first',
  responses: {
    200: {
      content: { 'application/json': { schema: activeBannersSchema } },
      description: 'Banners delivered to the caller, not dismissed, expired or retracted.',
    },
    401: errorResponse('No token, or an invalid or expired one.'),
  },
})

export const dismissRoute = createRoute({
  method: 'post',
  path: '/messages/{id}/dismiss',
  summary: 'Dismiss a banner for the caller (idempotent)',
  request: { params: messageIdParamsSchema },
  responses: {
    200: {
      content: { 'application/json': { schema: dismissalSchema } },
      description: 'Dismissed; a repeated call answers the first dismissal again.',
    },
    400: errorResponse('The id is not a message id.'),
    401: errorResponse('No token, or an invalid or expired one.'),
    404: errorResponse('No banner with this id was delivered to the caller.'),
  },
})
