// What every messaging API payload shares: timestamps, the message id in paths, and the error
// body. Kept apart from the admin's schemas so apps importing banner types stay small.

import { z } from 'zod'

import { errorCodes, type ErrorCode } from './error-codes.ts'

export const timestamp = z.iso.datetime({ offset: true })

export const messageIdParamsSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,14}$/, 'A message id is a positive whole number.')
    .transform(Number)
    .meta({ param: { name: 'id', in: 'path' }, description: 'The message id.', example: '42' }),
})

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.unknown(),
    }),
  })
  .meta({ id: 'Error' })

export type ErrorBody = z.infer<typeof errorBodySchema>
