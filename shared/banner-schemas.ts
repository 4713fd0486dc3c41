// The banners client apps receive from the user function, and the answer to a dismissal.

import { z } from 'zod'

import { timestamp } from './api-common.ts'

export const bannerSchema = z
  .object({
    id: z.number().int(),
    subject: z.string(),
    body_markdown: z.string(),
    body_html: z.string(),
    created_at: timestamp,
    expires_at: timestamp.nullable(),
  })
  .meta({ id: 'Banner' })

export const activeBannersSchema = z.object({ items: z.array(bannerSchema) })

export const dismissalSchema = z
  .object({ message_id: z.number().int(), dismissed_at: timestamp })
  .meta({ id: 'Dismissal' })

export type Banner = z.infer<typeof bannerSchema>
export type ActiveBanners = z.infer<typeof activeBannersSchema>
export type Dismissal = z.infer<typeof dismissalSchema>
