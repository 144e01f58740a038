import type { handleUnaryCall, sendUnaryData, ServerUnaryCall, ServiceDefinition } from "@grpc/grpc-js";
import { Server, status } from "@grpc/grpc-js";
import { invalidArgument, isFloodgateError } from "../../domain/errors.js";
import type { Logger } from "../../observability/logger.js";
import type { Metrics } from "../../observability/metrics.js";
import type { CheckLimitInput, CheckLimitOutcome } from "../../limiting/check-limit.js";
import type { RateLimiter } from "../../limiting/rate-limiter.js";
import type { ProtoCheckLimitRequest } from "./check-limit-translate.js";
import { fromCheckLimitRequest, toCheckLimitResponse } from "./check-limit-translate.js";
import type { Malformed } from "./proto.js";
import {
  ADMIN_SERVICE,
  isMalformed,
  MALFORMED,
  packageDefinition,
  RATE_LIMITER_SERVICE,
  RLS_SERVICE,
  safeDecoder,
  serviceDefinition,
} from "./proto.js";
import { ReflectionService } from "@grpc/reflection";
import type { GrpcHealth } from "./health.js";
import { addHealthService } from "./health.js";
import { decodeRateLimitRequest, encodeRateLimitResponse } from "./rls-codec.js";
import type { LimitRequest, LimitResult } from "../../limiting/types.js";
import { toGrpcError } from "./status-map.js";
import { FAILURE_LOG_LEVEL } from "../failure-log-level.js";
import type { AdminServerDeps } from "./admin-server.js";
import { addAdminElsewhereService, addAdminService, addDisabledAdminService } from "./admin-server.js";
import type { TlsSource } from "../../config/tls-watcher.js";
import { serverCredentials } from "./tls-credentials.js";

export interface GrpcServerDeps {
  readonly limiter: RateLimiter;
  readonly checkLimit: (input: CheckLimitInput) => Promise<CheckLimitOutcome>;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, "requestDuration">;
  /** The admin API; when absent its methods answer UNAVAILABLE ("not configured"). */
  readonly admin?: Omit<AdminServerDeps, "logger">;
}

interface UnaryRoute<Req> {
  readonly rpc: string;
  readonly handle: (request: Req) => Promise<object>;
}

/** The hot path's service: bytes to domain types and back through rls-codec, no generic loader. */
const RLS_DEFINITION: ServiceDefinition = {
  ShouldRateLimit: {
    path: `/${RLS_SERVICE}/ShouldRateLimit`,
    requestStream: false,
    responseStream: false,
    requestDeserialize: safeDecoder(decodeRateLimitRequest),
    requestSerialize: () => {
      throw new Error("server side only");
    },
    responseSerialize: (result: LimitResult) => encodeRateLimitResponse(result),
    responseDeserialize: () => {
      throw new Error("server side only");
    },
  },
};

function malformedError(value: Malformed) {
  const cause = value[MALFORMED];
  return isFloodgateError(cause) ? cause : invalidArgument("body", "request did not decode");
}

function requestId(call: ServerUnaryCall<unknown, unknown>): string | undefined {
  const value = call.metadata.get("x-request-id")[0];
  return typeof value === "string" ? value.slice(0, 128) : undefined;
}

/**
 * Decode guard, error mapping, access log and timing: the same for every unary method. The access
 * log records the method, the status code and the duration, never a payload: successful calls at
 * debug (off in production, and then nothing is formatted), failures with their cause at the
 * level of their error code (transport/failure-log-level.ts).
 * It is done here rather than in a grpc-js interceptor, which costs a wrapper object per call.
 */
function unary<Req>(route: UnaryRoute<Req>, deps: GrpcServerDeps): handleUnaryCall<Req, object> {
  const histogram = deps.metrics.requestDuration.labels(route.rpc);
  const { logger } = deps;
  return (call: ServerUnaryCall<Req, object>, callback: sendUnaryData<object>) => {
    const start = performance.now();
    const fail = (err: unknown): void => {
      const mapped = toGrpcError(err);
      const ms = performance.now() - start;
      histogram.observe(ms / 1000);
      const code = status[mapped.error.code ?? status.UNKNOWN];
      logger[FAILURE_LOG_LEVEL[mapped.code]](
        { rpc: route.rpc, code, ms, requestId: requestId(call), detail: mapped.logDetail },
        "rpc failed",
      );
      callback(mapped.error);
    };
    if (isMalformed(call.request)) return fail(malformedError(call.request));
    route.handle(call.request).then((response) => {
      const ms = performance.now() - start;
      histogram.observe(ms / 1000);
      if (logger.isLevelEnabled("debug")) logger.debug({ rpc: route.rpc, code: "OK", ms }, "rpc");
      callback(null, response);
    }, fail);
  };
}

/**
 * Envoy keeps one HTTP/2 connection open for a long time and multiplexes every call on it. The
 * server pings idle connections so dead peers are noticed, accepts Envoy's own pings, and ages
 * connections out (with a grace period for in-flight calls) so that load spreads again after a
 * scale-out.
 *
 * Requests are capped at 512 KiB, an input limit of its own (README, "Input limits and errors";
 * test/unit/message-cap.test.ts measures each case). A descriptor value is whatever the client
 * put in a header or the path (limiting/limits.ts), and one header may appear in several
 * descriptors: Envoy's default request header limit is 60 KiB, so 512 KiB holds eight copies of
 * a full header block. A message over the cap is refused (RESOURCE_EXHAUSTED), and Envoy lets
 * that request through: raise the cap with Envoy's max_request_headers_kb, never lower it below
 * what the descriptors can carry. The largest valid Admin request is 65,465 bytes and the largest
 * CheckLimit 6,156; a realistic Envoy request is under 1 KB. grpc-js refuses a larger message
 * from its length prefix, and the decoder stops at the first input limit it meets, so a hostile
 * message under the cap costs little more than reading it.
 *
 * At most 256 streams in flight per connection bound what one connection can make us buffer
 * (256 × 512 KiB = 128 MiB). Envoy opens another connection when one reaches the limit its
 * server announced; `make bench` keeps 32 streams in flight per connection.
 */
export const SERVER_OPTIONS = {
  "grpc.max_receive_message_length": 512 * 1024,
  "grpc.max_concurrent_streams": 256,
  "grpc.max_send_message_length": 1024 * 1024,
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.http2.min_ping_interval_without_data_ms": 10_000,
  "grpc.max_connection_age_ms": 30 * 60_000,
  "grpc.max_connection_age_grace_ms": 60_000,
  // channelz bookkeeping (per-call counters for a debugging service we do not expose) showed up
  // in the hot path's profile.
  "grpc.enable_channelz": 0,
};

export interface GrpcServer {
  readonly server: Server;
  readonly health: GrpcHealth;
}

type AdminDeps = Pick<GrpcServerDeps, "admin" | "logger">;

function addAdmin(server: Server, deps: AdminDeps): void {
  if (deps.admin === undefined) addDisabledAdminService(server);
  else addAdminService(server, { ...deps.admin, logger: deps.logger });
}

/** Reflection describes only the services a listener serves. */
function addReflection(server: Server, services: readonly string[]): void {
  new ReflectionService(packageDefinition(), { services: [...services] }).addToServer(server);
}

/**
 * The hot path's listener: RLS v3 and CheckLimit, and Admin unless it has a listener of its own
 * (`adminElsewhere`).
 */
export function createGrpcServer(deps: GrpcServerDeps & { readonly adminElsewhere?: boolean }): GrpcServer {
  const server = new Server(SERVER_OPTIONS);
  server.addService(RLS_DEFINITION, {
    ShouldRateLimit: unary<LimitRequest>(
      { rpc: "ShouldRateLimit", handle: (req) => deps.limiter.decide(req) },
      deps,
    ),
  });
  server.addService(serviceDefinition(RATE_LIMITER_SERVICE), {
    CheckLimit: unary<ProtoCheckLimitRequest>(
      {
        rpc: "CheckLimit",
        handle: async (req) => toCheckLimitResponse(await deps.checkLimit(fromCheckLimitRequest(req))),
      },
      deps,
    ),
  });
  const served = [RLS_SERVICE, RATE_LIMITER_SERVICE];
  if (deps.adminElsewhere === true) addAdminElsewhereService(server);
  else addAdmin(server, deps);
  addReflection(server, deps.adminElsewhere === true ? served : [...served, ADMIN_SERVICE]);
  // Health names the services that answer here; a disabled Admin service is not one of them.
  const healthy =
    deps.adminElsewhere !== true && deps.admin !== undefined ? [...served, ADMIN_SERVICE] : served;
  return { server, health: addHealthService(server, ["", ...healthy]) };
}

/**
 * The Admin listener (ADMIN_GRPC_PORT), apart from the hot path so that a NetworkPolicy can
 * admit only operators to it. It has health and reflection of its own: a probe or a load
 * balancer in front of it can check it, and grpcurl works on it without .proto files, both
 * describing the Admin service only.
 */
export function createAdminGrpcServer(deps: AdminDeps): GrpcServer {
  const server = new Server(SERVER_OPTIONS);
  addAdmin(server, deps);
  addReflection(server, [ADMIN_SERVICE]);
  return { server, health: addHealthService(server, ["", ADMIN_SERVICE]) };
}

/**
 * Binds and resolves the bound port (port 0 picks a free one, as the tests do). With a TLS
 * source, the listener serves TLS only (mTLS when the source has a client CA).
 */
export function bindGrpc(server: Server, address: string, tls?: TlsSource): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, serverCredentials(tls), (err, port) => (err ? reject(err) : resolve(port)));
  });
}

/** Lets in-flight calls finish for up to graceMs, then cancels whatever is left. */
export function shutdownGrpc(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
