// The provider named by HIVESYNC_EMAIL_PROVIDER, built from the drain's configuration.

import type { DrainConfig } from '../pipeline/drain-config.ts'
import type { EmailProvider } from './email-provider.ts'
import { createMockProvider } from './mock-provider.ts'
import { createResendProvider } from './resend-batch.ts'

export function createEmailProvider(config: DrainConfig): EmailProvider {
  switch (config.provider) {
    case 'mock':
      return createMockProvider({ outboxDir: config.outboxDir })
    case 'resend':
      return createResendProvider({
        apiKey: config.apiKey!,
        baseUrl: config.apiUrl,
        timeoutMs: config.providerTimeoutMs,
      })
  }
}
