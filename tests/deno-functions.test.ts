// The functions under Deno, as Supabase Edge Runtime runs them: their entries type-check with
// `deno check`, and the user function, started with `deno run` from deno.json's imports (fetched
// from the npm registry, not node_modules), serves a user's banners from the test database.

import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { findFreePort } from '../local/embedded-postgres.ts'
import { repoRoot } from '../local/paths.ts'
import { testJwtSecret, tokenFor } from './support/api-client.ts'
import { useTestDatabase } from './support/database.ts'
import { deno, denoEnv, denoFlags } from './support/deno.ts'
import { createDelivery, createMessage, createUser } from './support/fixtures.ts'

const run = promisify(execFile)
// Every function folder (not _shared) has an index.ts entry; the user function is served below.
const entries = readdirSync(join(repoRoot, 'functions'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && !entry.name.startsWith('_'))
  .map((entry) => `functions/${entry.name}/index.ts`)
  .filter((entry) => existsSync(join(repoRoot, entry)))
const userEntry = 'functions/user/index.ts'

const db = useTestDatabase()

describe('under Deno', () => {
  it('type-checks every function entry', { timeout: 180_000 }, async () => {
    expect(entries).toEqual(expect.arrayContaining(['functions/admin/index.ts', userEntry]))
    const { stderr } = await run(deno, ['check', ...denoFlags, ...entries], {
      cwd: repoRoot,
      env: denoEnv,
    }).catch((error: { stderr?: string; stdout?: string }) => {
      throw new Error(`deno check failed:\n${error.stderr ?? ''}${error.stdout ?? ''}`)
    })
    expect(stderr).not.toMatch(/error/i)
  })

  describe('the user function', () => {
    let child: ChildProcess | undefined
    let baseUrl: string

    beforeAll(async () => {
      const port = await findFreePort()
      child = spawn(
        deno,
        [
          'run',
          ...denoFlags,
          '--allow-net',
          '--allow-env',
          '--allow-read',
          '--allow-sys',
          userEntry,
        ],
        {
          cwd: repoRoot,
          env: {
            ...denoEnv,
            SUPABASE_DB_URL: db.url,
            HIVESYNC_JWT_SECRET: testJwtSecret,
            DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
      baseUrl = await listening(child, 170_000)
    }, 180_000)

    afterAll(async () => {
      if (child?.exitCode === null) {
        const exited = new Promise((resolve) => child!.once('exit', resolve))
        child.kill('SIGTERM')
        await exited
      }
    })

    it('serves a user’s active banners', async () => {
      const reader = await createUser(db.sql)
      const banner = await createMessage(db.sql, {
        status: 'sent',
        channel: 'in_app',
        subject: 'From Deno',
      })
      await createDelivery(db.sql, { message_id: banner.id, user_id: reader.id, channel: 'in_app' })

      const response = await fetch(`${baseUrl}/user/messages/active`, {
        headers: { authorization: `Bearer ${await tokenFor(reader)}` },
      })
      expect(response.status).toBe(200)
      const body = (await response.json()) as {
        items: { id: number; subject: string; body_html: string }[]
      }
      expect(body.items).toEqual([
        expect.objectContaining({
          id: banner.id,
          subject: 'From Deno',
          body_html: '<p>A <strong>body</strong>.</p>',
        }),
      ])
    })

    it('refuses a request without a token', async () => {
      const response = await fetch(`${baseUrl}/user/messages/active`)
      expect(response.status).toBe(401)
    })
  })

  it('refuses to start without a way to verify tokens', { timeout: 60_000 }, async () => {
    const error = await run(
      deno,
      ['run', ...denoFlags, '--allow-net', '--allow-env', '--allow-read', '--allow-sys', userEntry],
      {
        cwd: repoRoot,
        env: { ...denoEnv, SUPABASE_DB_URL: db.url },
      },
    ).then(
      () => undefined,
      (error: { stderr?: string }) => error,
    )
    expect(error?.stderr).toMatch(/SUPABASE_JWKS.*HIVESYNC_JWT_SECRET/)
  })
})

/** Resolves with the server's base URL once Deno prints that it listens. */
function listening(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => reject(new Error(`Deno did not start:\n${output}`)), timeoutMs)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /Listening on (http:\/\/[^\s/]+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`Deno exited with ${code}:\n${output}`))
    })
  })
}
