import { createRoute } from '@hono/zod-openapi'

import { estimateRequestSchema, estimateResponseSchema } from '../../../shared/api-schemas.ts'
import { describeFilters } from '../../../shared/filters.ts'
import { asCaller, type FunctionApp, type FunctionDeps } from '../../_shared/app.ts'
import { errorResponses, jsonBody, jsonResponse } from '../route-kit.ts'

export const estimateRoute = createRoute({
  method: 'post',
  path: '/messaging/estimate',
  summary: 'Count the recipients of a filter set on each channel',
  request: { body: jsonBody(estimateRequestSchema) },
  responses: {
    200: jsonResponse(estimateResponseSchema, 'Recipients per channel, and the filters in words.'),
    ...errorResponses(400, 413, 415),
  },
})

export function registerEstimate(app: FunctionApp, { sql }: FunctionDeps): void {
  app.openapi(estimateRoute, async (c) => {
    const { filters } = c.req.valid('json')

    const [counts] = await asCaller(
      sql,
      c,
      (tx) => tx<{ in_app: number; email: number; distinct_users: number }[]>`
        select in_app, email, distinct_users
        from public.estimate_audience(${tx.json(filters as never)})
      `,
    )
    return c.json(
      {
        counts: { in_app: counts!.in_app, email: counts!.email, distinct: counts!.distinct_users },
        description: describeFilters(filters),
      },
      200,
    )
  })
}
