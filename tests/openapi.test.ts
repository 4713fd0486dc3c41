import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { errorCodes } from '../shared/error-codes.ts'
import { createApi, tokenFor, type Api } from './support/api.ts'
import { useTestDatabase } from './support/database.ts'
import { createAdmin } from './support/fixtures.ts'

const db = useTestDatabase()

let api: Api
let document: {
  openapi: string
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
  components: { schemas: Record<string, { properties?: Record<string, any> }> }
  'x-error-codes': unknown
}

beforeAll(async () => {
  api = createApi(db.url)
  const admin = await createAdmin(db.sql)
  const response = await api.call(api.admin, 'GET', '/admin/messaging/openapi.json', {
    token: await tokenFor(admin),
  })
  expect(response.status).toBe(200)
  document = response.body
})

afterAll(async () => {
  await api?.close()
})

describe('the OpenAPI document', () => {
  it('documents every route the admin and user functions answer, and nothing else', () => {
    const served = [...api.admin.routes, ...api.user.routes]
      .filter((route) => route.method !== 'ALL')
      .map((route) => `${route.method.toLowerCase()} ${route.path.replace(/:(\w+)/g, '{$1}')}`)
    const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method} ${path}`),
    )

    expect(served.length).toBeGreaterThanOrEqual(16)
    expect(documented.sort()).toEqual([...new Set(served)].sort())
  })

  it('names the spec’s paths under the admin function', () => {
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/admin/messaging/compose',
        '/admin/messaging/send/{id}',
        '/admin/messaging/messages',
        '/admin/messaging/messages/{id}',
        '/user/messages/active',
        '/user/messages/{id}/dismiss',
      ]),
    )
  })

  it('lists every error code with its status, and the codes in the error schema', () => {
    expect(document['x-error-codes']).toEqual(JSON.parse(JSON.stringify(errorCodes)))
    const codes = document.components.schemas.Error!.properties!.error.properties.code.enum
    expect([...codes].sort()).toEqual(Object.keys(errorCodes).sort())
  })

  it('describes each route’s authentication failures', () => {
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const operation of Object.values(operations)) {
        const expected = path.startsWith('/admin/') ? ['401', '403'] : ['401']
        expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(expected))
      }
    }
  })

  it('carries the request schemas, strict about unknown keys', () => {
    const compose = document.components.schemas.ComposeMessage as Record<string, unknown>
    expect(compose.additionalProperties).toBe(false)
    expect(compose.required).toEqual(
      expect.arrayContaining(['subject', 'body_markdown', 'channel', 'filters']),
    )
  })
})
