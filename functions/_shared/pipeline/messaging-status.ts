// The payload of GET /messaging/status: both layers of the kill switch (the database one with who
// switched it and when), and what is left of each sending budget in its rolling window. Counts
// are capped at the limits, so the answer stays cheap however much was sent.

import type { Env } from '../config.ts'
import type { Tx } from '../db.ts'
import type { MessagingStatus } from '../../../shared/messaging-status.ts'
import { emailDisabledByEnv, readSendingLimits } from './drain-config.ts'

/** Runs as the caller (the admin, under RLS), in their transaction. */
export async function readMessagingStatus(
  tx: Tx,
  options: { env: Env; now?: Date },
): Promise<MessagingStatus> {
  const limits = readSendingLimits(options.env)
  const now = options.now ?? new Date()

  const [settings] = await tx<
    { email_disabled: boolean; changed_by: string | null; changed_at: Date | null }[]
  >`
    select email_disabled, email_disabled_changed_by as changed_by,
           email_disabled_changed_at as changed_at
    from public.messaging_settings
  `
  const [usage] = await tx<
    {
      minute_used: number
      hour_used: number
      messages_last_24h: number
      next_slot_at: Date | null
    }[]
  >`
    select * from public.email_budget_usage(${limits.maxPerMinute}, ${limits.maxPerHour}, ${now})
  `
  const [queue] = await tx<
    { messages_waiting: number; messages_sending: number; emails_queued: number }[]
  >`
    select count(*) filter (where status = 'queued')::integer as messages_waiting,
           count(*) filter (where status = 'sending')::integer as messages_sending,
           coalesce(sum(email_queued), 0)::integer as emails_queued
    from public.messages where status in ('queued', 'sending')
  `

  const byEnv = emailDisabledByEnv(options.env)
  const byDatabase = settings?.email_disabled ?? false
  return {
    email_disabled: byEnv || byDatabase,
    kill_switch: {
      environment: { email_disabled: byEnv, variable: 'HIVESYNC_EMAIL_DISABLED' },
      database: {
        email_disabled: byDatabase,
        changed_by: settings?.changed_by ?? null,
        changed_at: settings?.changed_at?.toISOString() ?? null,
      },
    },
    budgets: {
      emails_per_minute: budget(limits.maxPerMinute, usage!.minute_used),
      emails_per_hour: budget(limits.maxPerHour, usage!.hour_used),
      messages_per_day: budget(limits.maxMessagesPerDay, usage!.messages_last_24h),
      next_email_at: usage!.next_slot_at?.toISOString() ?? null,
    },
    queue: queue!,
  }
}

function budget(limit: number, used: number) {
  return { limit, used: Math.min(used, limit), left: Math.max(0, limit - used) }
}
