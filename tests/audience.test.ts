// Recipient filters resolved in SQL, key by key at their boundaries, with a fixed p_now and named
// fixture users; then combinations, consent and deletion, and validation.

import { beforeAll, describe, expect, it } from 'vitest'

import { withClaims } from '../functions/_shared/db.ts'
import type { Filters } from '../shared/filters.ts'
import { useTestDatabase } from './support/database.ts'
import { createAdmin, createUser, type UserFields, type UserRow } from './support/fixtures.ts'

const db = useTestDatabase()

const now = new Date('2026-06-15T12:00:00Z')
const second = 1000
const hour = 3600 * second
const day = 24 * hour
const at = (offsetMs: number) => new Date(now.getTime() + offsetMs)

let admin: UserRow
const users: Record<string, UserRow> = {}

async function user(name: string, fields: Partial<UserFields> = {}): Promise<UserRow> {
  users[name] = await createUser(db.sql, { email: `${name}@example.com`, ...fields })
  return users[name]!
}

async function session(who: UserRow, client: string, lastSeen: Date): Promise<void> {
  await db.sql`
    insert into public.user_sessions (user_id, client, started_at, last_seen_at)
    values (${who.id}, ${client}, ${new Date(lastSeen.getTime() - hour)}, ${lastSeen})
  `
}

async function event(who: UserRow, kind: string, occurredAt: Date, client = 'desktop', times = 1) {
  await db.sql`
    insert into public.telemetry_events (user_id, kind, client, occurred_at)
    select ${who.id}, ${kind}, ${client}, ${occurredAt} from generate_series(1, ${times})
  `
}

/** Who the filters reach, per channel, as the admin would resolve them. */
async function audience(filters: Filters | Record<string, unknown>) {
  const rows = await withClaims(
    db.sql,
    { role: 'authenticated', sub: admin.id, aud: 'authenticated' },
    (tx) => tx<{ user_id: string; channel: string }[]>`
      select user_id, channel from public.resolve_audience(${tx.json(filters as never)}, ${now})
    `,
  )
  const names = (channel: string) =>
    Object.keys(users)
      .filter((name) => rows.some((r) => r.user_id === users[name]!.id && r.channel === channel))
      .sort()
  return { inApp: names('in_app'), email: names('email') }
}

async function estimate(filters: Filters | Record<string, unknown>) {
  const [row] = await withClaims(
    db.sql,
    { role: 'authenticated', sub: admin.id, aud: 'authenticated' },
    (tx) => tx<{ in_app: number; email: number; distinct_users: number }[]>`
      select * from public.estimate_audience(${tx.json(filters as never)}, ${now})
    `,
  )
  return row!
}

beforeAll(async () => {
  // The admin is a deleted account, so the exact counts below cover the named users alone.
  admin = await createAdmin(db.sql, { email: null, deleted_at: at(-400 * day) })

  await user('trialEndingJustInside', { plan: 'trial', trial_ends_at: at(7 * day - second) })
  await user('trialEndingAtBoundary', { plan: 'trial', trial_ends_at: at(7 * day) })
  await user('trialEndingJustOutside', { plan: 'trial', trial_ends_at: at(7 * day + second) })
  await user('trialEndingNow', { plan: 'trial', trial_ends_at: now })
  await user('trialEndedFree', { plan: 'free', trial_ends_at: at(-3 * day) })
  await user('trialEndedStillOnTrial', { plan: 'trial', trial_ends_at: at(-second) })
  await user('trialEndedThenPaid', { plan: 'paid', trial_ends_at: at(-20 * day) })

  await user('downgradedJustInside', { plan: 'free', downgraded_at: at(-30 * day + second) })
  await user('downgradedAtBoundary', { plan: 'free', downgraded_at: at(-30 * day) })
  await user('downgradedJustOutside', { plan: 'free', downgraded_at: at(-30 * day - second) })
  const paidAgain = await user('downgradedThenPaidAgain', {
    plan: 'free',
    downgraded_at: at(-5 * day),
  })
  await db.sql`update public.users set plan = 'paid' where id = ${paidAgain.id}`

  await session(await user('activeJustInside24h'), 'desktop', at(-24 * hour + second))
  await event(await user('activeAtBoundary24h'), 'document_opened', at(-24 * hour))
  await session(await user('activeJustOutside24h'), 'mobile', at(-24 * hour - second))
  await event(await user('activeAtBoundary7d'), 'sync_completed', at(-7 * day))
  await session(await user('activeJustOutside7d'), 'desktop', at(-7 * day - second))
  await user('neverActive')

  const three = await user('aiExactlyThree')
  await event(three, 'ai_request', at(-2 * day), 'desktop', 2)
  await event(three, 'ai_request', at(-6 * day), 'desktop', 1)
  const four = await user('aiExactlyFour')
  await event(four, 'ai_request', at(-2 * day), 'desktop', 4)
  const old = await user('aiOldRequestsOnly')
  await event(old, 'ai_request', at(-8 * day), 'desktop', 9)

  await event(await user('previewJustInside'), 'preview_used', at(-30 * day + second))
  await event(await user('previewJustOutside'), 'preview_used', at(-30 * day - second))
  await event(await user('liveViewLongAgo'), 'live_view_joined', at(-200 * day))

  const both = await user('usedDesktopAndIpad')
  await session(both, 'desktop', at(-40 * day))
  await event(both, 'document_opened', at(-2 * day), 'ipad')
  await session(await user('usedOnlyDesktop'), 'desktop', at(-3 * day))

  await user('optedOut', { email_opt_out: true })
  await user('bounced', { email_bounced: true })
  await user('invalidAddress', { email: 'not an address' })
  await user('withoutEmail', { email: null })
  await user('deletedUser', { deleted_at: at(-1 * day) })
})

describe('trial_expires_within_days', () => {
  it('includes a trial ending 1 s inside and exactly at N days, not 1 s after', async () => {
    const { inApp } = await audience({ trial_expires_within_days: 7 })
    expect(inApp).toEqual(['trialEndingAtBoundary', 'trialEndingJustInside'])
  })

  it('needs the trial to end after now: one ending at p_now is not included', async () => {
    const { inApp } = await audience({ trial_expires_within_days: 1 })
    expect(inApp).not.toContain('trialEndingNow')
    expect(inApp).not.toContain('trialEndedStillOnTrial')
  })
})

describe('trial_expired_not_upgraded', () => {
  it('includes ended trials not on paid, whatever the plan says, and not paying ones', async () => {
    const { inApp } = await audience({ trial_expired_not_upgraded: true })
    expect(inApp).toEqual(['trialEndedFree', 'trialEndedStillOnTrial', 'trialEndingNow'])
  })
})

describe('downgraded_within_days', () => {
  it('includes a downgrade 1 s inside and exactly at N days, not 1 s before', async () => {
    const { inApp } = await audience({ downgraded_within_days: 30 })
    expect(inApp).toEqual(['downgradedAtBoundary', 'downgradedJustInside'])
  })

  it('leaves out a downgraded user who paid again', async () => {
    const { inApp } = await audience({ downgraded_within_days: 365 })
    expect(inApp).not.toContain('downgradedThenPaidAgain')
    expect(inApp).toContain('downgradedJustOutside')
  })
})

describe('active_within and inactive_for', () => {
  it('counts activity 1 s inside and exactly at the window edge, not 1 s outside', async () => {
    const { inApp } = await audience({ active_within: '24h' })
    expect(inApp).toEqual(['activeAtBoundary24h', 'activeJustInside24h'])
  })

  it('treats sessions and telemetry alike as activity', async () => {
    const { inApp } = await audience({ active_within: '7d' })
    expect(inApp).toContain('activeAtBoundary7d')
    expect(inApp).toContain('usedOnlyDesktop')
    expect(inApp).not.toContain('activeJustOutside7d')
  })

  it('counts the never active and those last active 1 s before the window as inactive', async () => {
    const { inApp } = await audience({ inactive_for: '7d' })
    expect(inApp).toContain('neverActive')
    expect(inApp).toContain('activeJustOutside7d')
    expect(inApp).not.toContain('activeAtBoundary7d')
    expect(inApp).not.toContain('activeJustOutside24h')
  })
})

describe('AI requests in the last 7 days', () => {
  it('above X means more than X: exactly X is out, X + 1 is in', async () => {
    expect((await audience({ ai_requests_7d_above: 3 })).inApp).toEqual(['aiExactlyFour'])
    expect((await audience({ ai_requests_7d_above: 2 })).inApp).toEqual([
      'aiExactlyFour',
      'aiExactlyThree',
    ])
  })

  it('below Y means fewer than Y: exactly Y is out, and users without requests are in', async () => {
    const { inApp } = await audience({ ai_requests_7d_below: 4 })
    expect(inApp).toContain('aiExactlyThree')
    expect(inApp).not.toContain('aiExactlyFour')
    expect(inApp).toContain('neverActive')
    expect((await audience({ ai_requests_7d_below: 3 })).inApp).not.toContain('aiExactlyThree')
  })

  it('ignores requests older than 7 days', async () => {
    expect((await audience({ ai_requests_7d_below: 1 })).inApp).toContain('aiOldRequestsOnly')
    expect((await audience({ ai_requests_7d_above: 0 })).inApp).not.toContain('aiOldRequestsOnly')
  })
})

describe('used_preview_30d, joined_live_view and devices', () => {
  it('counts a preview 1 s inside 30 days and not 1 s outside', async () => {
    const { inApp } = await audience({ used_preview_30d: true })
    expect(inApp).toEqual(['previewJustInside'])
  })

  it('remembers a Live View join from long ago', async () => {
    expect((await audience({ joined_live_view: true })).inApp).toEqual(['liveViewLongAgo'])
  })

  it('needs every listed client: a user who used only one of two is out', async () => {
    const { inApp } = await audience({ devices: ['desktop', 'ipad'] })
    expect(inApp).toEqual(['usedDesktopAndIpad'])
    expect((await audience({ devices: ['ipad'] })).inApp).toEqual(['usedDesktopAndIpad'])
  })
})

describe('combinations, consent and deletion', () => {
  it('ANDs every key present', async () => {
    const { inApp } = await audience({ plan: 'trial', trial_expires_within_days: 7 })
    expect(inApp).toEqual(['trialEndingAtBoundary', 'trialEndingJustInside'])
    expect((await audience({ devices: ['desktop'], active_within: '24h' })).inApp).toEqual([
      'activeAtBoundary24h',
      'activeJustInside24h',
    ])
    expect((await audience({ devices: ['mobile'], active_within: '24h' })).inApp).toEqual([])
  })

  it('matches nobody for a contradiction', async () => {
    expect(await estimate({ active_within: '7d', inactive_for: '7d' })).toEqual({
      in_app: 0,
      email: 0,
      distinct_users: 0,
    })
  })

  it('keeps opted-out, bounced, invalid and address-less users in-app only', async () => {
    const { inApp, email } = await audience({})
    for (const name of ['optedOut', 'bounced', 'invalidAddress', 'withoutEmail']) {
      expect(inApp).toContain(name)
      expect(email).not.toContain(name)
    }
    expect(email).toContain('neverActive')
  })

  it('never reaches a deleted user on any channel', async () => {
    const { inApp, email } = await audience({})
    expect(inApp).not.toContain('deletedUser')
    expect(email).not.toContain('deletedUser')
  })

  it('counts exactly what it resolves: email is in-app minus the unreachable', async () => {
    const everyone = Object.keys(users).length
    const unreachable = ['optedOut', 'bounced', 'invalidAddress', 'withoutEmail'].length
    expect(await estimate({})).toEqual({
      in_app: everyone - 1,
      email: everyone - 1 - unreachable,
      distinct_users: everyone - 1,
    })
  })

  it('follows consent changes made after the fact', async () => {
    await db.sql`update public.users set email_opt_out = true where id = ${users.neverActive!.id}`
    expect((await audience({})).email).not.toContain('neverActive')
    await db.sql`update public.users set email_opt_out = false where id = ${users.neverActive!.id}`
    expect((await audience({})).email).toContain('neverActive')
  })
})

describe('validation in SQL', () => {
  it.each([
    [{ audience: 'all' }, /unknown key "audience"/],
    [{ plan: 'gold' }, /filters\.plan must be one of/],
    [{ trial_expires_within_days: 0 }, /filters\.trial_expires_within_days must be a whole number/],
    [{ downgraded_within_days: 1.5 }, /filters\.downgraded_within_days must be a whole number/],
    [{ active_within: '2d' }, /filters\.active_within must be one of/],
    [{ inactive_for: '24h' }, /filters\.inactive_for must be one of/],
    [{ ai_requests_7d_above: -1 }, /filters\.ai_requests_7d_above must be a whole number/],
    [{ ai_requests_7d_below: '5' }, /filters\.ai_requests_7d_below must be a whole number/],
    [{ used_preview_30d: false }, /filters\.used_preview_30d must be true/],
    [{ joined_live_view: 'yes' }, /filters\.joined_live_view must be true/],
    [{ devices: [] }, /filters\.devices must be a non-empty array/],
    [{ devices: ['tv'] }, /filters\.devices must be a non-empty array/],
  ])('rejects %j naming the key, with errcode 22023', async (filters, message) => {
    for (const call of [estimate, audience]) {
      const error = await call(filters).then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string },
      )
      expect(error?.code).toBe('22023')
      expect(error?.message).toMatch(message)
    }
  })

  it('rejects a filter value that is not an object', async () => {
    await expect(estimate([] as never)).rejects.toThrow(/filters must be a JSON object/)
  })
})

describe('access', () => {
  it('shows a signed-in user who is not the admin no recipients', async () => {
    const someone = users.neverActive!
    const [row] = await withClaims(
      db.sql,
      { role: 'authenticated', sub: someone.id, aud: 'authenticated' },
      (tx) => tx`select * from public.estimate_audience('{}', ${now})`,
    )
    expect(row).toEqual({ in_app: 0, email: 0, distinct_users: 0 })
  })

  it('does not let anon call resolution or the estimate', async () => {
    for (const fn of ['resolve_audience', 'estimate_audience']) {
      await expect(
        withClaims(db.sql, { role: 'anon' }, (tx) => tx`select * from ${tx(fn)}('{}')`),
      ).rejects.toThrow(/permission denied/)
    }
  })

  it('lets the service role resolve without an admin', async () => {
    const rows = await withClaims(
      db.sql,
      { role: 'service_role' },
      (tx) => tx`select count(*)::int as n from public.resolve_audience('{}', ${now})`,
    )
    expect(rows[0]!.n).toBeGreaterThan(0)
  })
})
