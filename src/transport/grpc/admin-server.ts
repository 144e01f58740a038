import type { handleUnaryCall, sendUnaryData, Server, ServerUnaryCall, Metadata } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import type { Authenticator } from "../../auth/types.js";
import { AuthError } from "../../auth/types.js";
import { invalidArgument, isFloodgateError } from "../../domain/errors.js";
import type { Logger } from "../../observability/logger.js";
import type { AdminContext, AdminService } from "../../service/admin.js";
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

export interface AdminServerDeps {
  readonly admin: AdminService;
  readonly authenticator: Authenticator;
  readonly logger: Logger;
  /** floodgate_admin_requests_total{method,result}. */
  readonly count: (method: string, result: string) => void;
}

type Handler = (ctx: AdminContext, request: never) => Promise<object>;

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

/** Authentication comes first: an unauthenticated caller learns nothing, not even if its request parsed. */
function adminUnary(
  method: string,
  handle: Handler,
  deps: AdminServerDeps,
): handleUnaryCall<unknown, object> {
  return (call: ServerUnaryCall<unknown, object>, callback: sendUnaryData<object>) => {
    const requestId = requestIdOf(call.metadata);
    // The caller went away (deadline, cancel): long handlers such as VerifyAuditLog stop early.
    const cancelled = new AbortController();
    call.once("cancelled", () => cancelled.abort());
    deps.authenticator
      .authenticate(headerOf(call.metadata))
      .then((principal) => {
        if (isMalformed(call.request)) throw invalidArgument("body", "request did not decode");
        return handle({ principal, requestId, signal: cancelled.signal }, call.request as never);
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
          deps.logger.warn(
            { rpc: method, result, requestId, detail: mapped.logDetail },
            "admin request refused",
          );
          callback(mapped.error);
        },
      );
  };
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

export function addAdminService(server: Server, deps: AdminServerDeps): void {
  const impl: Record<string, handleUnaryCall<unknown, object>> = {};
  for (const [method, handle] of Object.entries(handlers(deps.admin)))
    impl[method] = adminUnary(method, handle, deps);
  server.addService(serviceDefinition(ADMIN_SERVICE), impl);
}

/** With no key source configured, every admin method says so plainly. */
export function addDisabledAdminService(server: Server): void {
  const refuse: handleUnaryCall<unknown, object> = (_call, callback) =>
    callback({
      code: status.UNAVAILABLE,
      details: "admin API is not configured (set ADMIN_JWKS_FILE, ADMIN_JWKS_URL or ADMIN_PUBLIC_KEY_FILE)",
    });
  const impl: Record<string, handleUnaryCall<unknown, object>> = {};
  for (const method of Object.keys(handlers({} as AdminService))) impl[method] = refuse;
  server.addService(serviceDefinition(ADMIN_SERVICE), impl);
}
