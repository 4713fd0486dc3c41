import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The checkout's root folder, wherever the process was started from. */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url))

/** Database, outbox and logs of the local stack; `.hivesync/` in the checkout unless configured. */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.HIVESYNC_DATA_DIR || resolve(repoRoot, '.hivesync'))
}
