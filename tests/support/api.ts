// The admin and user apps over a database, for tests that exercise both.

import type { FunctionConfig } from '../../functions/_shared/config.ts'
import { connect, type Sql } from '../../functions/_shared/db.ts'
import type { FunctionApp } from '../../functions/_shared/app.ts'
import { createAdminApp } from '../../functions/admin/app.ts'
import { createUserApp } from '../../functions/user/app.ts'
import { callApp, testConfig } from './api-client.ts'

export * from './api-client.ts'

export interface Api {
  sql: Sql
  admin: FunctionApp
  user: FunctionApp
  call: typeof callApp
  close(): Promise<void>
}

/** The two apps over the database at `url` (the test database, or a pooler in front of it). */
export function createApi(url: string, config: FunctionConfig = testConfig()): Api {
  const sql = connect(url, { max: 4 })
  const deps = { sql, config }
  return {
    sql,
    admin: createAdminApp(deps),
    user: createUserApp(deps),
    call: callApp,
    close: () => sql.end({ timeout: 5 }),
  }
}
