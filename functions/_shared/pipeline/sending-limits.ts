// Send-time checks that SQL's queue_message does not make, run in the admin's send transaction
// just before it: the daily cap on messages (HIVESYNC_MAX_MESSAGES_PER_DAY, a rolling 24 hours
// over queued_at) and the kill switch for messages that go by email. The cap's count takes a
// transaction-scoped advisory lock first, so concurrent sends take turns until they commit and
// the (N+1)-th is refused even when both arrive at once.

import { HiveSyncError } from '../../../shared/errors.ts'
import type { Env } from '../config.ts'
import type { Tx } from '../db.ts'
import { emailDisabledByEnv, readSendingLimits } from './drain-config.ts'

export interface SendCheckOptions {
  env: Env
  /** The instant of the send; the database's clock when absent. */
  now?: Date
}

/** Throws 429 daily_cap_reached or 503 email_disabled; otherwise returns and the send may go on. */
export async function assertMessageCanBeQueued(
  tx: Tx,
  messageId: number,
  options: SendCheckOptions,
): Promise<void> {
  const { maxMessagesPerDay } = readSendingLimits(options.env)
  const [message] = await tx<{ channel: string }[]>`
    select channel from public.messages where id = ${messageId}
  `
  // An unknown id is reported by queue_message itself, with its own code.
  if (!message) return

  const [counted] = options.now
    ? await tx<{ queued: number }[]>`
        select public.lock_and_count_messages_queued(${options.now}) as queued
      `
    : await tx<{ queued: number }[]>`select public.lock_and_count_messages_queued() as queued`
  if (counted!.queued >= maxMessagesPerDay) {
    throw new HiveSyncError(
      'daily_cap_reached',
      `${counted!.queued} messages were sent in the last 24 hours, the most ` +
        'HIVESYNC_MAX_MESSAGES_PER_DAY allows; send this one once the oldest of them is a day old.',
      { status: 429, details: { limit: maxMessagesPerDay, window_hours: 24 } },
    )
  }

  if (message.channel === 'in_app') return

  const [settings] = await tx<{ email_disabled: boolean }[]>`
    select email_disabled from public.messaging_settings
  `
  const byEnv = emailDisabledByEnv(options.env)
  if (byEnv || settings?.email_disabled) {
    throw new HiveSyncError(
      'email_disabled',
      byEnv
        ? 'Email is switched off by HIVESYNC_EMAIL_DISABLED on the server; unset it, or send ' +
            'this message in-app only.'
        : 'Email is switched off by the kill switch; switch it back on, or send this message ' +
            'in-app only.',
      { status: 503, details: { layer: byEnv ? 'environment' : 'database' } },
    )
  }
}
