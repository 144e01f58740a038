import type {
  handleUnaryCall,
  MethodDefinition,
  sendUnaryData,
  Server,
  ServerUnaryCall,
  ServiceDefinition,
  Metadata,
} from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import type { Authenticator, TokenUse } from "../../admin/auth/types.js";
import { AuthError } from "../../admin/auth/types.js";
import { invalidArgument, isFloodgateError } from "../../domain/errors.js";
import type { Logger } from "../../observability/logger.js";
import { LogThrottle } from "../../observability/log-throttle.js";
import type { AdminContext, AdminService } from "../../admin/admin-service.js";
import type { ProtoLimit, ProtoTarget, ProtoTimestamp, ProtoVerifyRequest } from "./admin-translate.js";
import {
  auditEventOut,
  bucketOut,
  overrideOut,
  toDate,
  toLimitInput,
  toTargetInput,
  toVerifyInput,
  verifyOut,
} from "./admin-translate.js";
import { ADMIN_SERVICE, isMalformed, serviceDefinition } from "./proto.js";
import { toGrpcError } from "./status-map.js";
import type { MappedError } from "./status-map.js";
import { FAILURE_LOG_LEVEL } from "../failure-log-level.js";

export interface AdminServerDeps {
  readonly admin: AdminService;
  readonly authenticator: Authenticator;
  readonly logger: Logger;
  /** floodgate_admin_requests_total{method,result}, by `by` (default 1; 0 creates the series). */
  readonly count: (method: string, result: string, by?: number) => void;
}

type Handler = (ctx: AdminContext, request: never) => Promise<object>;

/** The calls that change state: their token is single-use (docs/admin-auth.md). */
const WRITES: ReadonlySet<string> = new Set(["SetOverride", "DeleteOverride", "ResetBucket"]);

/** A failed authentication is logged at most once per kind per interval; the metric counts each. */
const AUTH_LOG_INTERVAL_MS = 10_000;

type Decode = (bytes: Buffer) => unknown;

interface AdminRoute {
  readonly method: string;
  readonly handle: Handler;
  /** The proto decoder, run only once the caller is authenticated. */
  readonly decode: Decode;
}

/** A bounded label: the auth failure reason, or the error code, or "ok". */
function resultOf(error: unknown): string {
  if (error instanceof AuthError) return error.reason;
  return isFloodgateError(error) ? error.code.toLowerCase() : "internal";
}

function headerOf(metadata: Metadata): string | undefined {
  const values = metadata.get("authorization");
  // Two authorization headers are as malformed as one garbled one.
  if (values.length !== 1) return values.length === 0 ? undefined : "multiple";
  return typeof values[0] === "string" ? values[0] : "binary";
}

function requestIdOf(metadata: Metadata): string {
  const value = metadata.get("x-request-id")[0];
  return typeof value === "string" && value.length > 0 ? value.slice(0, 128) : randomUUID();
}

interface RefusalLog {
  readonly rpc: string;
  readonly result: string;
  readonly requestId: string;
  readonly detail: string | undefined;
}

/**
 * Anyone can fail authentication at will: those lines are throttled, the others are not. Each is
 * logged at the level of its error code (transport/failure-log-level.ts).
 */
function refusalLogger(logger: Logger): (mapped: MappedError, error: unknown, fields: RefusalLog) => void {
  const throttle = new LogThrottle<RefusalLog>(
    (fields, suppressed) =>
      logger[FAILURE_LOG_LEVEL.UNAUTHENTICATED]({ ...fields, suppressed }, "admin request refused"),
    { intervalMs: AUTH_LOG_INTERVAL_MS },
  );
  return (mapped, error, fields) => {
    if (error instanceof AuthError) throttle.note(fields.result, fields);
    else logger[FAILURE_LOG_LEVEL[mapped.code]](fields, "admin request refused");
  };
}

/**
 * Authentication comes first, even before the body is decoded: an unauthenticated caller costs
 * no decoding and learns nothing, not even whether its request parsed.
 */
function adminUnary(
  { method, handle, decode }: AdminRoute,
  deps: AdminServerDeps,
  logRefusal: ReturnType<typeof refusalLogger>,
): handleUnaryCall<Buffer, object> {
  const use: TokenUse = WRITES.has(method) ? "write" : "read";
  return (call: ServerUnaryCall<Buffer, object>, callback: sendUnaryData<object>) => {
    const requestId = requestIdOf(call.metadata);
    // The caller went away (deadline, cancel): long handlers such as VerifyAuditLog stop early.
    const cancelled = new AbortController();
    call.once("cancelled", () => cancelled.abort());
    deps.authenticator
      .authenticate(headerOf(call.metadata), use)
      .then((principal) => {
        const request = decode(call.request);
        if (isMalformed(request)) throw invalidArgument("body", "request did not decode");
        return handle({ principal, requestId, signal: cancelled.signal }, request as never);
      })
      .then(
        (response) => {
          deps.count(method, "ok");
          callback(null, response);
        },
        (error: unknown) => {
          const mapped = toGrpcError(error);
          const result = resultOf(error);
          deps.count(method, result);
          logRefusal(mapped, error, { rpc: method, result, requestId, detail: mapped.logDetail });
          callback(mapped.error);
        },
      );
  };
}

/**
 * The Admin service with the raw body as its request: grpc-js runs a method's deserializer before
 * the handler, so the real decoder (returned alongside) is called by the handler, after authentication.
 */
function undecodedAdminService(): { definition: ServiceDefinition; decoders: Record<string, Decode> } {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  const decoders: Record<string, Decode> = {};
  for (const [method, full] of Object.entries(serviceDefinition(ADMIN_SERVICE))) {
    decoders[method] = full.requestDeserialize as Decode;
    definition[method] = { ...full, requestDeserialize: (bytes: Buffer) => bytes };
  }
  return { definition, decoders };
}

interface Req {
  target: ProtoTarget | null;
  limit: ProtoLimit | null;
  expires_at: ProtoTimestamp | null;
  reason: string;
  domain: string;
  page_size: number;
  page_token: string;
  since: ProtoTimestamp | null;
  until: ProtoTimestamp | null;
  actor: string;
  action: string;
}

function handlers(admin: AdminService): Record<string, Handler> {
  return {
    SetOverride: async (ctx, r: Req) => ({
      override: overrideOut(
        await admin.setOverride(ctx, {
          target: toTargetInput(r.target),
          limit: toLimitInput(r.limit),
          expiresAt: toDate(r.expires_at),
          reason: r.reason,
        }),
      ),
    }),
    DeleteOverride: async (ctx, r: Req) => ({
      deleted: await admin.deleteOverride(ctx, { target: toTargetInput(r.target), reason: r.reason }),
    }),
    ListOverrides: async (ctx, r: Req) => {
      const page = await admin.listOverrides(ctx, {
        domain: r.domain,
        pageSize: r.page_size,
        pageToken: r.page_token,
      });
      return { overrides: page.items.map(overrideOut), next_page_token: page.nextPageToken ?? "" };
    },
    ResetBucket: async (ctx, r: Req) => {
      await admin.resetBucket(ctx, { target: toTargetInput(r.target), reason: r.reason });
      return {};
    },
    GetBucket: async (ctx, r: Req) =>
      bucketOut(await admin.getBucket(ctx, { target: toTargetInput(r.target) })),
    ListAuditEvents: async (ctx, r: Req) => {
      const page = await admin.listAuditEvents(ctx, {
        since: toDate(r.since),
        until: toDate(r.until),
        actor: r.actor,
        action: r.action,
        pageSize: r.page_size,
        pageToken: r.page_token,
      });
      return { events: page.items.map(auditEventOut), next_page_token: page.nextPageToken ?? "" };
    },
    VerifyAuditLog: async (ctx, r: ProtoVerifyRequest) =>
      verifyOut(await admin.verifyAuditLog(ctx, toVerifyInput(r))),
  };
}

/** Serves every method of admin.proto; a method without a handler (or the reverse) is a bug. */
export function addAdminService(server: Server, deps: AdminServerDeps): void {
  const { definition, decoders } = undecodedAdminService();
  const logRefusal = refusalLogger(deps.logger);
  const routes = handlers(deps.admin);
  const unmatched = Object.keys(routes).filter((method) => !(method in decoders));
  if (unmatched.length > 0) throw new Error(`admin.proto has no method ${unmatched.join(", ")}`);
  const impl: Record<string, handleUnaryCall<Buffer, object>> = {};
  for (const [method, decode] of Object.entries(decoders)) {
    const handle = routes[method];
    if (handle === undefined) throw new Error(`admin.proto method ${method} has no handler`);
    impl[method] = adminUnary({ method, handle, decode }, deps, logRefusal);
    // The shipped alerts watch these with increase(), which misses a series' first event unless
    // the series already exists: a single replayed token is exactly the event to see.
    for (const result of WRITES.has(method) ? ["key_source", "replayed"] : ["key_source"]) {
      deps.count(method, result, 0);
    }
  }
  server.addService(definition, impl);
}

/**
 * An Admin service that answers every method with one refusal. It decodes nothing: whoever can
 * reach the listener could otherwise make it decode a large message for nothing.
 */
function addRefusingAdminService(server: Server, refusal: { code: status; details: string }): void {
  const refuse: handleUnaryCall<Buffer, object> = (_call, callback) => callback(refusal);
  const { definition } = undecodedAdminService();
  const impl: Record<string, handleUnaryCall<Buffer, object>> = {};
  for (const method of Object.keys(definition)) impl[method] = refuse;
  server.addService(definition, impl);
}

/** With no key source configured, every admin method says so plainly. */
export function addDisabledAdminService(server: Server): void {
  addRefusingAdminService(server, {
    code: status.UNAVAILABLE,
    details: "admin API is not configured (set ADMIN_JWKS_FILE, ADMIN_JWKS_URL or ADMIN_PUBLIC_KEY_FILE)",
  });
}

/** With ADMIN_GRPC_PORT, an Admin call on the hot path's listener is told where Admin went. */
export function addAdminElsewhereService(server: Server): void {
  addRefusingAdminService(server, {
    code: status.UNIMPLEMENTED,
    details: "the admin API is served on its own listener (ADMIN_GRPC_PORT), not on this one",
  });
}
