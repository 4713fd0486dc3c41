// For HiveSync's apps: fetch the signed-in user's active banners and dismiss one, through the
// app's own supabase-js client (which carries the user's session token to the user function).
// Failures throw a HiveSyncError with the API's code, so an app can tell "sign in again" from
// "try later".

import type { SupabaseClient } from '@supabase/supabase-js'

import {
  activeBannersSchema,
  dismissalSchema,
  type Banner,
  type Dismissal,
} from './banner-schemas.ts'
import { HiveSyncError } from './errors.ts'

type FunctionsClient = Pick<SupabaseClient, 'functions'>

/** The caller's active banners, newest first. */
export async function fetchActiveBanners(supabase: FunctionsClient): Promise<Banner[]> {
  const { data, error } = await supabase.functions.invoke('user/messages/active', { method: 'GET' })
  if (error) throw await toHiveSyncError(error)
  return activeBannersSchema.parse(data).items
}

/** Dismisses a banner for the caller; dismissing it again is harmless. */
export async function dismissBanner(supabase: FunctionsClient, id: number): Promise<Dismissal> {
  const { data, error } = await supabase.functions.invoke(`user/messages/${id}/dismiss`, {
    method: 'POST',
  })
  if (error) throw await toHiveSyncError(error)
  return dismissalSchema.parse(data)
}

async function toHiveSyncError(error: unknown): Promise<HiveSyncError> {
  // supabase-js attaches the function's Response to HTTP errors as `context`.
  const response = (error as { context?: unknown }).context
  if (response instanceof Response) {
    const body = (await response.json().catch(() => null)) as {
      error?: { code?: string; message?: string; details?: unknown }
    } | null
    if (body?.error?.code) {
      return new HiveSyncError(body.error.code, body.error.message ?? body.error.code, {
        status: response.status,
        details: body.error.details,
        cause: error,
      })
    }
    return new HiveSyncError('request_failed', `The user function answered ${response.status}.`, {
      status: response.status,
      cause: error,
    })
  }

  return new HiveSyncError(
    'request_failed',
    'The user function could not be reached; check the connection and try again.',
    { status: 0, cause: error },
  )
}
