// One line of English for a filter set, shown beside the live count and in the message history:
// "Trial users whose trial ends within 7 days, active in the last 7 days, who used iPad". Clauses
// come in a fixed order, whatever order the keys were given in, so equal filters read the same.

import type { Filters } from './filters.ts'

const planNouns = { paid: 'Paid users', free: 'Free users', trial: 'Trial users' } as const
const windowWords = { '24h': '24 hours', '7d': '7 days', '30d': '30 days' } as const
const deviceNames = {
  desktop: 'desktop',
  ipad: 'iPad',
  mobile: 'mobile',
  vscode: 'VS Code',
} as const

export function describeFilters(filters: Filters): string {
  const clauses: string[] = []

  if (filters.trial_expires_within_days !== undefined) {
    clauses.push(`whose trial ends within ${count(filters.trial_expires_within_days, 'day')}`)
  }
  if (filters.trial_expired_not_upgraded) clauses.push('whose trial ended without upgrading')
  if (filters.downgraded_within_days !== undefined) {
    clauses.push(
      `who downgraded from paid in the last ${count(filters.downgraded_within_days, 'day')}`,
    )
  }
  if (filters.active_within)
    clauses.push(`active in the last ${windowWords[filters.active_within]}`)
  if (filters.inactive_for) {
    clauses.push(`not active in the last ${windowWords[filters.inactive_for]}`)
  }

  const above = filters.ai_requests_7d_above
  const below = filters.ai_requests_7d_below
  if (above !== undefined && below !== undefined) {
    clauses.push(`with more than ${above} and fewer than ${below} AI requests in the last 7 days`)
  } else if (above !== undefined) {
    clauses.push(`with more than ${count(above, 'AI request')} in the last 7 days`)
  } else if (below !== undefined) {
    clauses.push(`with fewer than ${count(below, 'AI request')} in the last 7 days`)
  }

  if (filters.used_preview_30d) clauses.push('who used the preview builder in the last 30 days')
  if (filters.joined_live_view) clauses.push('who have joined Live View')
  if (filters.devices && filters.devices.length > 0) {
    clauses.push(`who used ${list(filters.devices.map((d) => deviceNames[d]))}`)
  }

  const subject = filters.plan
    ? planNouns[filters.plan]
    : clauses.length > 0
      ? 'Users'
      : 'All users'
  return [subject, clauses.join(', ')].filter(Boolean).join(' ')
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

function list(items: string[]): string {
  const unique = [...new Set(items)]
  if (unique.length === 1) return unique[0]!
  return `${unique.slice(0, -1).join(', ')} and ${unique.at(-1)}`
}
