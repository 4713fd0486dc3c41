// The filter contract in TypeScript: exactly the design's keys, every bad value named, and the
// one-line description the admin reads beside the count.

import { describe, expect, it } from 'vitest'

import { HiveSyncError } from '../shared/errors.ts'
import { describeFilters, filtersSchema, parseFilters, type Filters } from '../shared/filters.ts'

function rejection(input: unknown): HiveSyncError {
  try {
    parseFilters(input)
  } catch (error) {
    return error as HiveSyncError
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`)
}

describe('parseFilters', () => {
  it('accepts every key of the contract at its limits', () => {
    const filters = {
      plan: 'trial',
      trial_expires_within_days: 365,
      trial_expired_not_upgraded: true,
      downgraded_within_days: 1,
      active_within: '24h',
      inactive_for: '30d',
      ai_requests_7d_above: 0,
      ai_requests_7d_below: 1,
      used_preview_30d: true,
      joined_live_view: true,
      devices: ['desktop', 'ipad', 'mobile', 'vscode'],
    }
    expect(parseFilters(filters)).toEqual(filters)
    expect(parseFilters({})).toEqual({})
  })

  it('knows exactly the keys of the design', () => {
    expect(Object.keys(filtersSchema.shape).sort()).toEqual(
      [
        'active_within',
        'ai_requests_7d_above',
        'ai_requests_7d_below',
        'devices',
        'downgraded_within_days',
        'inactive_for',
        'joined_live_view',
        'plan',
        'trial_expired_not_upgraded',
        'trial_expires_within_days',
        'used_preview_30d',
      ].sort(),
    )
  })

  it('rejects an unknown key with invalid_filters, status 400 and the key named', () => {
    const error = rejection({ plan: 'paid', country: 'NZ' })
    expect(error).toBeInstanceOf(HiveSyncError)
    expect(error.code).toBe('invalid_filters')
    expect(error.status).toBe(400)
    expect(error.message).toMatch(/unknown key "country"/)
    expect(error.details).toEqual([
      { path: 'filters.country', message: expect.stringMatching(/allowed keys are plan, /) },
    ])
  })

  it.each([
    [{ plan: 'gold' }, 'filters.plan', /one of "paid", "free", "trial"/],
    [{ trial_expires_within_days: 0 }, 'filters.trial_expires_within_days', /from 1 to 365/],
    [{ trial_expires_within_days: 366 }, 'filters.trial_expires_within_days', /from 1 to 365/],
    [{ downgraded_within_days: 2.5 }, 'filters.downgraded_within_days', /whole number/],
    [{ trial_expired_not_upgraded: false }, 'filters.trial_expired_not_upgraded', /must be true/],
    [{ active_within: '2d' }, 'filters.active_within', /"24h", "7d", "30d"/],
    [{ inactive_for: '24h' }, 'filters.inactive_for', /"7d", "30d"/],
    [{ ai_requests_7d_above: -1 }, 'filters.ai_requests_7d_above', /from 0 to/],
    [{ ai_requests_7d_below: 0 }, 'filters.ai_requests_7d_below', /from 1 to/],
    [{ ai_requests_7d_below: '3' }, 'filters.ai_requests_7d_below', /whole number/],
    [{ used_preview_30d: 'yes' }, 'filters.used_preview_30d', /must be true/],
    [{ joined_live_view: null }, 'filters.joined_live_view', /must be true/],
    [{ devices: [] }, 'filters.devices', /non-empty array/],
    [{ devices: 'ipad' }, 'filters.devices', /non-empty array/],
    [{ devices: ['ipad', 'tv'] }, 'filters.devices.1', /non-empty array of "desktop"/],
  ])('rejects %j naming %s and what is allowed', (input, path, allowed) => {
    const error = rejection(input)
    expect(error.code).toBe('invalid_filters')
    expect(error.details).toEqual([{ path, message: expect.stringMatching(allowed) }])
    expect(error.message).toContain(path)
  })

  it('rejects something that is not an object', () => {
    for (const input of [null, [], 'plan=paid', 3]) {
      expect(rejection(input).details).toEqual([
        { path: 'filters', message: expect.stringMatching(/must be a JSON object/) },
      ])
    }
  })
})

describe('describeFilters', () => {
  it.each<[Filters, string]>([
    [{}, 'All users'],
    [
      { plan: 'trial', trial_expires_within_days: 7, active_within: '7d', devices: ['ipad'] },
      'Trial users whose trial ends within 7 days, active in the last 7 days, who used iPad',
    ],
    [{ plan: 'paid' }, 'Paid users'],
    [{ trial_expires_within_days: 1 }, 'Users whose trial ends within 1 day'],
    [{ trial_expired_not_upgraded: true }, 'Users whose trial ended without upgrading'],
    [{ downgraded_within_days: 30 }, 'Users who downgraded from paid in the last 30 days'],
    [{ active_within: '24h' }, 'Users active in the last 24 hours'],
    [{ inactive_for: '30d' }, 'Users not active in the last 30 days'],
    [{ ai_requests_7d_above: 10 }, 'Users with more than 10 AI requests in the last 7 days'],
    [{ ai_requests_7d_below: 1 }, 'Users with fewer than 1 AI request in the last 7 days'],
    [
      { ai_requests_7d_above: 2, ai_requests_7d_below: 9 },
      'Users with more than 2 and fewer than 9 AI requests in the last 7 days',
    ],
    [{ used_preview_30d: true }, 'Users who used the preview builder in the last 30 days'],
    [{ joined_live_view: true }, 'Users who have joined Live View'],
    [{ devices: ['desktop', 'vscode', 'mobile'] }, 'Users who used desktop, VS Code and mobile'],
  ])('describes %j as "%s"', (filters, text) => {
    expect(describeFilters(filters)).toBe(text)
  })

  it('reads the same whatever order the keys come in', () => {
    expect(describeFilters({ active_within: '7d', plan: 'free' })).toBe(
      describeFilters({ plan: 'free', active_within: '7d' }),
    )
  })
})
