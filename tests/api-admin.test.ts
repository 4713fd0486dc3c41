// Every admin endpoint's success path and error statuses, against the test database.

import { describeAdminApi } from './support/admin-api-scenarios.ts'
import { useTestDatabase } from './support/database.ts'

const db = useTestDatabase()

describeAdminApi({ url: () => db.url, sql: () => db.sql })
