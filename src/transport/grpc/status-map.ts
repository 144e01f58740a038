import type { ServiceError } from "@grpc/grpc-js";
import { Metadata, status } from "@grpc/grpc-js";
import type { ErrorCode } from "../../domain/errors.js";
import { isFloodgateError } from "../../domain/errors.js";

/** The one table from domain error codes to gRPC status codes. */
export const GRPC_STATUS: Readonly<Record<ErrorCode, status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  NOT_FOUND: status.NOT_FOUND,
  UNAVAILABLE: status.UNAVAILABLE,
  UNIMPLEMENTED: status.UNIMPLEMENTED,
  INTERNAL: status.INTERNAL,
};

export interface MappedError {
  readonly error: Partial<ServiceError>;
  /** The domain code, for the log level (transport/failure-log-level.ts). */
  readonly code: ErrorCode;
  /** What the server log gets; the client never sees it. */
  readonly logDetail: string | undefined;
}

/** Anything that is not a FloodgateError is a bug: INTERNAL, with a message that reveals nothing. */
export function toGrpcError(err: unknown): MappedError {
  if (isFloodgateError(err)) {
    return {
      error: { code: GRPC_STATUS[err.code], details: err.message, metadata: new Metadata() },
      code: err.code,
      logDetail: err.detail,
    };
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return {
    error: { code: status.INTERNAL, details: "internal error", metadata: new Metadata() },
    code: "INTERNAL",
    logDetail: detail,
  };
}
