// The drain function under Deno, as Supabase Edge Runtime runs it (deno.json's imports, fetched
// from the npm registry): started from its entry with the mock provider, it drains a queued
// message when called with the secret, and writes the .eml files and the email log.

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'

import { findFreePort } from '../local/embedded-postgres.ts'
import { repoRoot } from '../local/paths.ts'
import { useTestDatabase } from './support/database.ts'
import { deno, denoEnv, denoFlags } from './support/deno.ts'
import { createRecipients, messageRow, queueMessage } from './support/pipeline.ts'

const db = useTestDatabase()
const secret = 'deno-drain-secret-0123456789abcdef'
const dataDir = mkdtempSync(join(tmpdir(), 'hivesync-deno-drain-'))
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
      '--allow-write',
      '--allow-sys',
      'functions/drain/index.ts',
    ],
    {
      cwd: repoRoot,
      env: {
        ...denoEnv,
        DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
        SUPABASE_DB_URL: db.url,
        HIVESYNC_DRAIN_SECRET: secret,
        HIVESYNC_EMAIL_PROVIDER: 'mock',
        HIVESYNC_DATA_DIR: dataDir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  baseUrl = await new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => reject(new Error(`Deno did not start:\n${output}`)), 170_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /Listening on (http:\/\/[^\s/]+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    }
    child!.stdout!.on('data', onData)
    child!.stderr!.on('data', onData)
    child!.once('exit', (code) => reject(new Error(`Deno exited with ${code}:\n${output}`)))
  })
}, 180_000)

afterAll(async () => {
  if (child?.exitCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }
})

it('drains under Deno when called with the secret, and refuses a call without it', async () => {
  await createRecipients(db.sql, 2, 'deno')
  const id = await queueMessage(db.sql, new Date())

  const refused = await fetch(`${baseUrl}/drain`, { method: 'POST' })
  expect(refused.status).toBe(401)

  const response = await fetch(`${baseUrl}/drain`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}` },
  })
  expect(response.status).toBe(200)
  expect(await response.json()).toMatchObject({ fanned_out: 1, sent: 2, stopped: 'idle' })
  expect((await messageRow(db.sql, id)).status).toBe('sent')
  expect(readdirSync(join(dataDir, 'outbox')).filter((file) => file.endsWith('.eml'))).toHaveLength(
    2,
  )
  expect(readdirSync(join(dataDir, 'logs'))).toEqual(['email.log'])
})
