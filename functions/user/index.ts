// Entry point of the `user` Edge Function.

import { serveWithDeno } from '../_shared/serve-deno.ts'
import { createUserApp } from './app.ts'

serveWithDeno(createUserApp)
