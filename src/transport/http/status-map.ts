import type { ErrorCode } from "../../domain/errors.js";
import { FloodgateError, invalidArgument, isFloodgateError } from "../../domain/errors.js";

/** The one table from domain error codes to HTTP statuses. */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  UNAVAILABLE: 503,
  UNIMPLEMENTED: 501,
  INTERNAL: 500,
};

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  validation?: { instancePath: string; params: Record<string, unknown> }[];
}

/**
 * The field a schema validation error is about, as the schema names it. An unknown property is
 * named by the client, so it is reported as `body`: a message never echoes client data.
 */
function fieldOf(err: FastifyLikeError): string {
  const first = err.validation?.[0];
  if (first === undefined || first.params["additionalProperty"] !== undefined) return "body";
  const missing = first.params["missingProperty"];
  const path = first.instancePath.replace(/^\//, "").replace(/\//g, ".");
  if (typeof missing === "string") return path === "" ? missing : `${path}.${missing}`;
  return path === "" ? "body" : path;
}

/** A body that is not `application/json` (415): the message says what to send instead. */
function unsupportedMediaType(detail: string | undefined): FloodgateError {
  return new FloodgateError(
    "INVALID_ARGUMENT",
    "invalid request: content-type must be application/json",
    detail,
  );
}

/**
 * Turns whatever a route or fastify threw into a FloodgateError. Fastify's own client errors
 * (bad JSON, too large, wrong media type) keep their 4xx status but get our generic message.
 */
export function classifyHttpError(err: unknown): { status: number; error: FloodgateError } {
  if (isFloodgateError(err)) return { status: HTTP_STATUS[err.code], error: err };
  const e = (typeof err === "object" && err !== null ? err : {}) as FastifyLikeError;
  if (e.validation !== undefined) return { status: 400, error: invalidArgument(fieldOf(e)) };
  const status = e.statusCode ?? 500;
  if (status === 415) return { status, error: unsupportedMediaType(e.code) };
  if (status >= 400 && status < 500) return { status, error: invalidArgument("body", e.code) };
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return { status: 500, error: new FloodgateError("INTERNAL", "internal error", detail) };
}
