// The fixed mix of filter sets the benchmark times and the tests check resolution against: every
// key alone, then all keys together (a contradiction that matches nobody, yet still costs a scan).

import type { Filters } from '../shared/filters.ts'

export const audienceFilterSets: { name: string; filters: Filters }[] = [
  { name: 'plan', filters: { plan: 'paid' } },
  { name: 'trial_expires_within_days', filters: { trial_expires_within_days: 7 } },
  { name: 'trial_expired_not_upgraded', filters: { trial_expired_not_upgraded: true } },
  { name: 'downgraded_within_days', filters: { downgraded_within_days: 30 } },
  { name: 'active_within', filters: { active_within: '7d' } },
  { name: 'inactive_for', filters: { inactive_for: '30d' } },
  { name: 'ai_requests_7d_above', filters: { ai_requests_7d_above: 20 } },
  { name: 'ai_requests_7d_below', filters: { ai_requests_7d_below: 5 } },
  { name: 'used_preview_30d', filters: { used_preview_30d: true } },
  { name: 'joined_live_view', filters: { joined_live_view: true } },
  { name: 'devices', filters: { devices: ['desktop', 'ipad'] } },
  {
    name: 'all keys',
    filters: {
      plan: 'trial',
      trial_expires_within_days: 14,
      trial_expired_not_upgraded: true,
      downgraded_within_days: 90,
      active_within: '30d',
      inactive_for: '7d',
      ai_requests_7d_above: 0,
      ai_requests_7d_below: 50,
      used_preview_30d: true,
      joined_live_view: true,
      devices: ['desktop'],
    },
  },
]
