// The one error type of HiveSync Messaging. Every expected failure carries a stable `code` that
// callers may branch on; `message` says what was wrong and what to do; `details` is safe to show.
// The original cause, if any, is kept for logs and never sent to a caller.

export class HiveSyncError extends Error {
  readonly code: string
  readonly status: number
  readonly details: unknown

  constructor(
    code: string,
    message: string,
    options: { status?: number; details?: unknown; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause })
    this.name = 'HiveSyncError'
    this.code = code
    this.status = options.status ?? 500
    this.details = options.details
  }
}
