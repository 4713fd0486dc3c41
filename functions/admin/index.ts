// Entry point of the `admin` Edge Function.

import { serveWithDeno } from '../_shared/serve-deno.ts'
import { createAdminApp } from './app.ts'

serveWithDeno(createAdminApp)
