// How tests run the functions under Deno, as Supabase Edge Runtime does: the deno binary from npm,
// deno.json's npm: imports resolved through the registry (not node_modules), a cache in the
// checkout, and a minimal environment so nothing of the test process leaks into the function.

import { join } from 'node:path'

import { repoRoot } from '../../local/paths.ts'

export const deno = join(repoRoot, 'node_modules', '.bin', 'deno')

export const denoFlags = ['--node-modules-dir=none', '--config', 'deno.json']

export const denoEnv = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? repoRoot,
  DENO_DIR: join(repoRoot, '.deno'),
  NO_COLOR: '1',
  DENO_NO_UPDATE_CHECK: '1',
  // Deno trusts only its bundled roots by default; machines that reach the npm registry through a
  // TLS-inspecting proxy add its CA to the system store, which npm and Node already use.
  DENO_TLS_CA_STORE: 'system,mozilla',
  ...(process.env.HTTPS_PROXY ? { HTTPS_PROXY: process.env.HTTPS_PROXY } : {}),
}
