/**
 * The one error registry. Expected outcomes (over limit) are data, not errors; everything that
 * fails carries one of these stable codes, and each transport maps codes through one table.
 * Messages are generic on purpose: they name the offending field, never a limit, a bucket or a user.
 */
export const ERROR_CODES = [
  "INVALID_ARGUMENT",
  "UNAUTHENTICATED",
  "PERMISSION_DENIED",
  "NOT_FOUND",
  "UNAVAILABLE",
  "UNIMPLEMENTED",
  "INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class FloodgateError extends Error {
  readonly code: ErrorCode;
  /** Extra context for the server log only; never sent to a client. */
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, detail?: string) {
    super(message);
    this.name = "FloodgateError";
    this.code = code;
    this.detail = detail;
  }
}

/** Bad input. The message names the field and nothing else. */
export function invalidArgument(field: string, detail?: string): FloodgateError {
  return new FloodgateError("INVALID_ARGUMENT", `invalid request: ${field}`, detail);
}

export function isFloodgateError(value: unknown): value is FloodgateError {
  return value instanceof FloodgateError;
}
