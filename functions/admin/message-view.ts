// How a messages row is shown through the API: dates as ISO strings, the stored filters under
// `filters` with a sentence describing them, the body rendered, and the delivery counters grouped
// by channel with their total.

import type { MessageDetail, MessageSummary } from '../../shared/api-schemas.ts'
import { describeFilters, type Filters } from '../../shared/filters.ts'
import { renderMarkdown } from '../_shared/render-markdown.ts'

const deliveryStatuses = ['queued', 'sending', 'sent', 'failed', 'skipped', 'cancelled'] as const

export type MessageRow = Record<string, unknown> & {
  id: number
  created_at: Date
  updated_at: Date
  created_by_admin_id: string | null
  subject: string
  body_markdown: string
  channel: MessageSummary['channel']
  filters_json: Record<string, unknown>
  status: MessageSummary['status']
  target_count_estimate: number | null
  target_count_in_app: number | null
  target_count_email: number | null
  error_summary: string | null
  queued_at: Date | null
  completed_at: Date | null
  expires_at: Date | null
  retracted_at: Date | null
}

export function toMessageSummary(row: MessageRow): MessageSummary {
  return {
    id: row.id,
    created_at: row.created_at.toISOString(),
    subject: row.subject,
    channel: row.channel,
    status: row.status,
    target_count_estimate: row.target_count_estimate,
    queued_at: isoOrNull(row.queued_at),
    completed_at: isoOrNull(row.completed_at),
    expires_at: isoOrNull(row.expires_at),
    retracted_at: isoOrNull(row.retracted_at),
  }
}

export function toMessageDetail(row: MessageRow): MessageDetail {
  return {
    ...toMessageSummary(row),
    updated_at: row.updated_at.toISOString(),
    created_by_admin_id: row.created_by_admin_id,
    body_markdown: row.body_markdown,
    body_html: renderMarkdown(row.body_markdown),
    filters: row.filters_json,
    filters_description: describeFilters(row.filters_json as Filters),
    target_count_in_app: row.target_count_in_app,
    target_count_email: row.target_count_email,
    error_summary: row.error_summary,
    deliveries: { in_app: deliveryCounts(row, 'in_app'), email: deliveryCounts(row, 'email') },
  }
}

export function deliveryCounts(row: Record<string, unknown>, channel: 'in_app' | 'email') {
  const counts = Object.fromEntries(
    deliveryStatuses.map((status) => [status, Number(row[`${channel}_${status}`] ?? 0)]),
  ) as Record<(typeof deliveryStatuses)[number], number>
  const total = deliveryStatuses.reduce((sum, status) => sum + counts[status], 0)
  return { ...counts, total }
}

export function isoOrNull(value: Date | null): string | null {
  return value ? value.toISOString() : null
}
