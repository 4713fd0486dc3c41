/** The admin function's name: the first segment of every path it serves. */
export const adminFunctionName = 'admin'
