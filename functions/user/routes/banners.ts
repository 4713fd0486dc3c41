// What client apps call: the caller's active banners, and dismissing one. Users cannot read
// messages; banners come through public.active_banners, which exposes only what a banner shows.

import { HiveSyncError } from '../../../shared/errors.ts'
import { asCaller, type FunctionApp, type FunctionDeps } from '../../_shared/app.ts'
import { renderMarkdown } from '../../_shared/render-markdown.ts'
import { activeBannersRoute, dismissRoute } from '../../_shared/user-routes.ts'

interface BannerRow {
  id: number
  subject: string
  body_markdown: string
  created_at: Date
  expires_at: Date | null
}

export function registerBanners(app: FunctionApp, { sql }: FunctionDeps): void {
  app.openapi(activeBannersRoute, async (c) => {
    const rows = await asCaller(
      sql,
      c,
      (tx) => tx<BannerRow[]>`select * from public.active_banners()`,
    )
    const items = rows.map((row) => ({
      id: row.id,
      subject: row.subject,
      body_markdown: row.body_markdown,
      body_html: renderMarkdown(row.body_markdown),
      created_at: row.created_at.toISOString(),
      expires_at: row.expires_at ? row.expires_at.toISOString() : null,
    }))
    return c.json({ items }, 200)
  })

  app.openapi(dismissRoute, async (c) => {
    const { id } = c.req.valid('param')
    const caller = c.get('caller')

    const dismissedAt = await asCaller(sql, c, async (tx) => {
      // Under RLS the caller sees only their own deliveries, so another user's banner is unknown.
      const [delivered] = await tx`
        select 1 from public.message_deliveries
        where message_id = ${id} and user_id = ${caller.id} and channel = 'in_app'
      `
      if (!delivered) {
        throw new HiveSyncError('message_not_found', `No banner ${id} was delivered to you.`, {
          status: 404,
        })
      }

      // A repeated dismissal keeps the first instant.
      const [state] = await tx<{ dismissed_at: Date }[]>`
        insert into public.user_message_state (user_id, message_id, dismissed, dismissed_at)
        values (${caller.id}, ${id}, true, now())
        on conflict (user_id, message_id) do update set
          dismissed = true,
          dismissed_at = coalesce(public.user_message_state.dismissed_at, excluded.dismissed_at)
        returning dismissed_at
      `
      return state!.dismissed_at
    })
    return c.json({ message_id: id, dismissed_at: dismissedAt.toISOString() }, 200)
  })
}
