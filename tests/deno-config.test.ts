// deno.json maps each bare import to an exact npm version; Deno (and Supabase Edge Runtime) then
// run the functions with those versions, Node with package-lock's. They must be the same.

import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

import { repoRoot } from '../local/paths.ts'

const denoJson = JSON.parse(readFileSync(join(repoRoot, 'deno.json'), 'utf8')) as {
  imports: Record<string, string>
}
const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string }>
}
const packageJson = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>
}

const npmImport = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)@([^/]+)\/?$/

describe('deno.json', () => {
  const entries = Object.entries(denoJson.imports)

  it.each(entries)('maps %s to the version package-lock.json installs', (name, target) => {
    const match = npmImport.exec(target)
    expect(match, `${name} must map to npm:<package>@<exact version>`).not.toBeNull()
    const [, pkg, version] = match!
    expect(name.replace(/\/$/, '')).toBe(pkg)
    expect(version).toBe(lock.packages[`node_modules/${pkg}`]?.version)
    expect(packageJson.dependencies[pkg!], `${pkg} is a runtime dependency`).toBe(version)
  })

  it('maps every package that function code imports', () => {
    const missing = functionImports().filter(
      (specifier) =>
        !(specifier in denoJson.imports) &&
        !Object.keys(denoJson.imports).some(
          (name) => name.endsWith('/') && specifier.startsWith(name),
        ),
    )
    expect(missing).toEqual([])
  })
})

/** Bare specifiers imported by the functions and the shared code they use (not the app client). */
function functionImports(): string[] {
  const files = ['functions', 'shared'].flatMap((dir) =>
    readdirSync(join(repoRoot, dir), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts') && file !== 'banner-client.ts')
      .map((file) => join(repoRoot, dir, file)),
  )
  const specifiers = files.flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^'"]*from '([^'.][^']*)'/gm)].map(
      (match) => match[1]!,
    ),
  )
  return [...new Set(specifiers)].filter((specifier) => !specifier.startsWith('node:'))
}
