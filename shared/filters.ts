// Recipient filters, version 1 (design section 3): a flat object whose keys are all optional and
// ANDed. The same rules are enforced again in SQL by public.audience_filters_check(), because the
// drain resolves stored filters without passing through the API. Isomorphic: no Node APIs.

import { z } from 'zod'

import { HiveSyncError } from './errors.ts'

export const planValues = ['paid', 'free', 'trial'] as const
export const activeWindows = ['24h', '7d', '30d'] as const
export const inactiveWindows = ['7d', '30d'] as const
export const deviceValues = ['desktop', 'ipad', 'mobile', 'vscode'] as const

const days = z.number().int().min(1).max(365)
const aiCount = (min: number) =>
  z
    .number()
    .int()
    .min(min)
    .max(2 ** 31 - 1)
const onlyTrue = z.literal(true, { error: 'must be true; leave the key out to not filter on it' })

export const filtersSchema = z
  .strictObject({
    plan: z.enum(planValues).optional().meta({ description: 'The current plan.' }),
    trial_expires_within_days: days.optional().meta({
      description: 'On a trial that ends after now and within this many days.',
    }),
    trial_expired_not_upgraded: onlyTrue.optional().meta({
      description: 'Had a trial that has ended, and is not on the paid plan now.',
    }),
    downgraded_within_days: days.optional().meta({
      description: 'Moved from paid to a lower plan within this many days, and not paid again.',
    }),
    active_within: z.enum(activeWindows).optional().meta({
      description: 'Last session or telemetry activity inside this window (boundary included).',
    }),
    inactive_for: z.enum(inactiveWindows).optional().meta({
      description: 'No activity inside this window; users never active count as inactive.',
    }),
    ai_requests_7d_above: aiCount(0).optional().meta({
      description: 'More than this many AI requests in the last 7 days.',
    }),
    ai_requests_7d_below: aiCount(1).optional().meta({
      description: 'Fewer than this many AI requests in the last 7 days.',
    }),
    used_preview_30d: onlyTrue.optional().meta({
      description: 'Used the preview builder at least once in the last 30 days.',
    }),
    joined_live_view: onlyTrue.optional().meta({
      description: 'Has ever joined a Live View session.',
    }),
    devices: z.array(z.enum(deviceValues)).min(1).optional().meta({
      description: 'Has ever used every one of these clients.',
    }),
  })
  .meta({ description: 'Recipient filters (version 1); all present keys must hold.' })

export type Filters = z.infer<typeof filtersSchema>

export interface FilterIssue {
  path: string
  message: string
}

/** Validates a filter set, or throws HiveSyncError('invalid_filters') naming each bad key. */
export function parseFilters(input: unknown): Filters {
  const result = filtersSchema.safeParse(input)
  if (result.success) return result.data

  const details = result.error.issues.flatMap(describeIssue)
  throw new HiveSyncError(
    'invalid_filters',
    `Invalid filters: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}.`,
    { status: 400, details },
  )
}

function describeIssue(issue: z.core.$ZodIssue): FilterIssue[] {
  const prefix = ['filters', ...issue.path.map(String)].join('.')

  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      path: `filters.${key}`,
      message: `unknown key "${key}"; allowed keys are ${Object.keys(filtersSchema.shape).join(', ')}`,
    }))
  }
  return [{ path: prefix, message: issueMessage(issue) }]
}

function issueMessage(issue: z.core.$ZodIssue): string {
  const key = String(issue.path[0] ?? '')
  if (issue.path.length === 0) return 'must be a JSON object, for example {"plan": "paid"}'
  if (key === 'plan') return `must be one of ${quoted(planValues)}`
  if (key === 'active_within') return `must be one of ${quoted(activeWindows)}`
  if (key === 'inactive_for') return `must be one of ${quoted(inactiveWindows)}`
  if (key === 'devices') return `must be a non-empty array of ${quoted(deviceValues)}`
  if (key === 'trial_expires_within_days' || key === 'downgraded_within_days') {
    return 'must be a whole number from 1 to 365'
  }
  if (key === 'ai_requests_7d_above') return 'must be a whole number from 0 to 2147483647'
  if (key === 'ai_requests_7d_below') return 'must be a whole number from 1 to 2147483647'
  return issue.message
}

function quoted(values: readonly string[]): string {
  return values.map((v) => `"${v}"`).join(', ')
}

export { describeFilters } from './filters-description.ts'
