// Structured logs: one JSON object per line, a constant message plus fields. Field names that
// could hold a credential are masked here as a last line of defence; callers must still never
// pass a token, a secret or an email body.

type Level = 'debug' | 'info' | 'warn' | 'error'

const secretField = /token|secret|password|authorization|api[_-]?key|cookie/i

export type LogFields = Record<string, unknown>

export function log(level: Level, message: string, fields: LogFields = {}): void {
  const entry: LogFields = { level, time: new Date().toISOString(), message }
  for (const [key, value] of Object.entries(fields)) {
    entry[key] = secretField.test(key) ? '[redacted]' : value
  }

  const line = JSON.stringify(entry, (_key, value) =>
    typeof value === 'bigint' ? String(value) : value,
  )
  if (level === 'error' || level === 'warn') console.error(line)
  else console.log(line)
}
