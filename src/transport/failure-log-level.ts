import type { ErrorCode } from "../domain/errors.js";

/**
 * The level at which both transports (gRPC and HTTP) log a failed request, by error code. The
 * caller's mistakes (bad input, missing or insufficient credentials, an unknown resource or
 * method) are warnings: worth seeing, nothing to repair on this side. The server's own failures
 * (a database or store it needs is down, a bug) are errors: someone has to act.
 */
export const FAILURE_LOG_LEVEL: Readonly<Record<ErrorCode, "warn" | "error">> = {
  INVALID_ARGUMENT: "warn",
  UNAUTHENTICATED: "warn",
  PERMISSION_DENIED: "warn",
  NOT_FOUND: "warn",
  UNIMPLEMENTED: "warn",
  UNAVAILABLE: "error",
  INTERNAL: "error",
};
