// The payloads of the messaging API as zod schemas: the functions validate requests with them,
// the OpenAPI document is generated from them, and the admin UI and apps import their types.
// Objects are strict, so an unknown key is an error that names the key rather than being ignored.

import { z } from 'zod'

import { timestamp } from './api-common.ts'
import { filtersSchema } from './filters.ts'

export * from './api-common.ts'
export * from './banner-schemas.ts'

export const channelSchema = z
  .enum(['in_app', 'email', 'both'])
  .meta({ id: 'Channel', description: 'Where the message goes: in-app banner, email, or both.' })

export const messageStatusSchema = z
  .enum(['draft', 'queued', 'sending', 'sent', 'failed', 'cancelled'])
  .meta({ id: 'MessageStatus' })

export const deliveryStatusSchema = z
  .enum(['queued', 'sending', 'sent', 'failed', 'skipped', 'cancelled'])
  .meta({ id: 'DeliveryStatus' })

export const subjectMaxLength = 200
export const bodyMaxLength = 50_000

const messageFields = {
  subject: z
    .string()
    .max(subjectMaxLength)
    .meta({ description: 'The banner title and email subject.' }),
  body_markdown: z
    .string()
    .max(bodyMaxLength)
    .meta({ description: 'Markdown; rendered and cleaned.' }),
  channel: channelSchema,
  filters: filtersSchema,
  expires_at: timestamp
    .nullable()
    .meta({ description: 'After this instant the banner is no longer shown; null for never.' }),
}

export const composeMessageSchema = z
  .strictObject({ ...messageFields, expires_at: messageFields.expires_at.optional() })
  .meta({
    id: 'ComposeMessage',
    description: 'A new draft. Subject and body may be empty until sent.',
  })

export const updateDraftSchema = z
  .strictObject(messageFields)
  .partial()
  .refine((patch) => Object.keys(patch).length > 0, 'Send at least one field to change.')
  .meta({ id: 'UpdateDraft', description: 'The fields of a draft to change.' })

export const estimateRequestSchema = z
  .strictObject({ filters: filtersSchema })
  .meta({ id: 'EstimateRequest' })

export const killSwitchRequestSchema = z
  .strictObject({
    email_disabled: z.boolean().meta({ description: 'true stops every email batch until false.' }),
  })
  .meta({ id: 'KillSwitchRequest' })

const pageFields = {
  page: z.coerce.number().int().min(1).default(1),
  page_size: z.coerce.number().int().min(1).max(100).default(25),
}

export const listMessagesQuerySchema = z.strictObject({
  ...pageFields,
  status: messageStatusSchema.optional(),
})

export const listDeliveriesQuerySchema = z.strictObject({
  ...pageFields,
  status: deliveryStatusSchema.optional(),
  channel: z.enum(['in_app', 'email']).optional(),
})

const countsByStatus = z
  .object({
    queued: z.number().int(),
    sending: z.number().int(),
    sent: z.number().int(),
    failed: z.number().int(),
    skipped: z.number().int(),
    cancelled: z.number().int(),
    total: z.number().int(),
  })
  .meta({ id: 'DeliveryCounts' })

export const messageSummarySchema = z
  .object({
    id: z.number().int(),
    created_at: timestamp,
    subject: z.string(),
    channel: channelSchema,
    status: messageStatusSchema,
    target_count_estimate: z.number().int().nullable(),
    queued_at: timestamp.nullable(),
    completed_at: timestamp.nullable(),
    expires_at: timestamp.nullable(),
    retracted_at: timestamp.nullable(),
  })
  .meta({ id: 'MessageSummary' })

export const messageDetailSchema = messageSummarySchema
  .extend({
    updated_at: timestamp,
    created_by_admin_id: z.string().nullable(),
    body_markdown: z.string(),
    body_html: z.string().meta({ description: 'The body as rendered for banners and emails.' }),
    filters: z.record(z.string(), z.unknown()).meta({ description: 'The exact stored filters.' }),
    filters_description: z.string(),
    target_count_in_app: z.number().int().nullable(),
    target_count_email: z.number().int().nullable(),
    error_summary: z.string().nullable(),
    deliveries: z.object({ in_app: countsByStatus, email: countsByStatus }),
  })
  .meta({ id: 'MessageDetail' })

const listOf = <T extends z.ZodType>(item: T, id: string) =>
  z
    .object({
      items: z.array(item),
      page: z.number().int(),
      page_size: z.number().int(),
      total: z.number().int(),
    })
    .meta({ id })

export const messageListSchema = listOf(messageSummarySchema, 'MessageList')

export const deliverySchema = z
  .object({
    id: z.number().int(),
    user_id: z.string(),
    email: z.string().nullable(),
    channel: z.enum(['in_app', 'email']),
    status: deliveryStatusSchema,
    error: z.string().nullable(),
    created_at: timestamp,
    sent_at: timestamp.nullable(),
    attempts: z.number().int(),
  })
  .meta({ id: 'Delivery' })

export const deliveryListSchema = listOf(deliverySchema, 'DeliveryList')

export const estimateResponseSchema = z
  .object({
    counts: z.object({
      in_app: z.number().int(),
      email: z.number().int(),
      distinct: z.number().int(),
    }),
    description: z.string(),
  })
  .meta({ id: 'Estimate' })

export const previewResponseSchema = z
  .object({
    banner: z.object({ subject: z.string(), body_html: z.string() }),
    email: z.object({ subject: z.string(), html: z.string(), text: z.string() }),
  })
  .meta({ id: 'Preview' })

export const killSwitchSchema = z
  .object({
    email_disabled: z.boolean(),
    changed_by: z.string().nullable(),
    changed_at: timestamp.nullable(),
  })
  .meta({ id: 'KillSwitch' })

  .meta({ id: 'ActiveBanners', description: 'The caller’s active banners, newest first.' })

export type ComposeMessage = z.infer<typeof composeMessageSchema>
export type UpdateDraft = z.infer<typeof updateDraftSchema>
export type MessageSummary = z.infer<typeof messageSummarySchema>
export type MessageDetail = z.infer<typeof messageDetailSchema>
export type MessageList = z.infer<typeof messageListSchema>
export type Delivery = z.infer<typeof deliverySchema>
export type DeliveryList = z.infer<typeof deliveryListSchema>
export type Estimate = z.infer<typeof estimateResponseSchema>
export type Preview = z.infer<typeof previewResponseSchema>
export type KillSwitch = z.infer<typeof killSwitchSchema>
