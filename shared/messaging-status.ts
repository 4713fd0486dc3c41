// The shape of GET /messaging/status: both layers of the kill switch, and what is left of each
// sending budget in its rolling window. Shared by the admin function and the admin UI.

import { z } from 'zod'

const budgetSchema = z.object({
  limit: z.number().int(),
  used: z.number().int(),
  left: z.number().int(),
})

export const messagingStatusSchema = z
  .object({
    email_disabled: z.boolean().describe('True when either layer of the kill switch is on.'),
    kill_switch: z.object({
      environment: z.object({
        email_disabled: z.boolean(),
        variable: z.literal('HIVESYNC_EMAIL_DISABLED'),
      }),
      database: z.object({
        email_disabled: z.boolean(),
        changed_by: z.string().nullable(),
        changed_at: z.string().nullable(),
      }),
    }),
    budgets: z.object({
      emails_per_minute: budgetSchema,
      emails_per_hour: budgetSchema,
      messages_per_day: budgetSchema,
      next_email_at: z
        .string()
        .nullable()
        .describe('When the next email may go, if a rolling window is full now.'),
    }),
    queue: z.object({
      messages_waiting: z.number().int(),
      messages_sending: z.number().int(),
      emails_queued: z.number().int(),
    }),
  })
  .meta({ id: 'MessagingStatus' })

export type MessagingStatus = z.infer<typeof messagingStatusSchema>
