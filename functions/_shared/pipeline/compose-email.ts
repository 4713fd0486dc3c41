// What a batch sends. The email is a pure function of the message and the claimed rows (address,
// delivery id), so a batch re-claimed after a crash produces byte for byte the payload it had the
// first time, and the provider's idempotency key matches it. The Markdown is rendered once per
// message and drain run.

import { markdownToText, renderMarkdown } from '../render-markdown.ts'
import type { OutgoingEmail } from '../email/email-provider.ts'
import type { ClaimedDelivery } from './email-queue.ts'

export interface RenderedMessage {
  subject: string
  html: string
  text: string
}

export function renderMessage(message: {
  subject: string
  body_markdown: string
}): RenderedMessage {
  return {
    subject: message.subject,
    html: renderMarkdown(message.body_markdown),
    text: markdownToText(message.body_markdown),
  }
}

export function formatSender(address: string, name?: string): string {
  if (!name) return address
  return `"${name.replace(/["\\\r\n]/g, '')}" <${address}>`
}

export function composeEmails(
  messageId: number,
  rendered: RenderedMessage,
  deliveries: ClaimedDelivery[],
  from: string,
): OutgoingEmail[] {
  return deliveries.map((delivery) => ({
    deliveryId: delivery.id,
    to: delivery.email,
    from,
    subject: rendered.subject,
    html: rendered.html,
    text: rendered.text,
    headers: {
      'X-HiveSync-Message-Id': String(messageId),
      'X-HiveSync-Delivery-Id': String(delivery.id),
    },
  }))
}
