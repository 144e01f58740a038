/**
 * A failed request is logged at one level per error code, whichever transport it came by: the
 * caller's mistakes at warn, the server's own failures (a dependency down, a bug) at error. Each
 * case goes through a real transport: gRPC CheckLimit and Admin on a loopback port, and HTTP
 * check-limit through Fastify's inject.
 */
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import type { Server } from "@grpc/grpc-js";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AdminService } from "../../src/admin/admin-service.js";
import type { Authenticator } from "../../src/admin/auth/types.js";
import type { ErrorCode } from "../../src/domain/errors.js";
import { ERROR_CODES, FloodgateError } from "../../src/domain/errors.js";
import type { RateLimiter } from "../../src/limiting/rate-limiter.js";
import { createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { ADMIN_SERVICE, packageDefinition, RATE_LIMITER_SERVICE } from "../../src/transport/grpc/proto.js";
import { bindGrpc, createGrpcServer } from "../../src/transport/grpc/server.js";
import { createHttpServer } from "../../src/transport/http/server.js";
import { FAILURE_LOG_LEVEL } from "../../src/transport/failure-log-level.js";

const EXPECTED: Record<ErrorCode, "warn" | "error"> = {
  INVALID_ARGUMENT: "warn",
  UNAUTHENTICATED: "warn",
  PERMISSION_DENIED: "warn",
  NOT_FOUND: "warn",
  UNIMPLEMENTED: "warn",
  UNAVAILABLE: "error",
  INTERNAL: "error",
};

/** What the next call fails with; set by each case. */
let failure: Error;
const lines: Record<string, unknown>[] = [];
const logger = createLogger("info", {
  write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
});

const admin = {
  listOverrides: () => Promise.reject(failure),
} as unknown as AdminService;
const authenticator: Authenticator = {
  authenticate: () => Promise.resolve({ sub: "op", iss: "test", jti: undefined, scopes: new Set() }),
};

let grpc: Server;
let client: Client;
let http: FastifyInstance;

beforeAll(async () => {
  const metrics = createMetrics();
  const checkLimit = () => Promise.reject(failure);
  grpc = createGrpcServer({
    limiter: {} as RateLimiter,
    checkLimit,
    logger,
    metrics,
    admin: { admin, authenticator, count: () => undefined },
  }).server;
  const port = await bindGrpc(grpc, "127.0.0.1:0");
  client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  http = await createHttpServer({
    checkLimit,
    health: () => ({ ready: true, components: {} }),
    logger,
    metrics,
  });
});

afterAll(async () => {
  client.close();
  grpc.forceShutdown();
  await http.close();
});

beforeEach(() => {
  lines.length = 0;
});

function encode(service: string, method: string, request: object): Buffer {
  const definition = packageDefinition()[service] as unknown as Record<
    string,
    { requestSerialize: (value: object) => Buffer }
  >;
  return definition[method]!.requestSerialize(request);
}

function grpcCall(service: string, method: string, request: object): Promise<void> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      `/${service}/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      encode(service, method, request),
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      () => resolve(),
    );
  });
}

/** The level of the one line the call logged. */
async function levelOf(call: () => Promise<unknown>): Promise<unknown> {
  lines.length = 0;
  await call();
  expect(lines).toHaveLength(1);
  return lines[0]!["level"];
}

const cases: [string, () => Error, ErrorCode][] = [
  ...ERROR_CODES.map((code): [string, () => Error, ErrorCode] => [
    code,
    () => new FloodgateError(code, "refused"),
    code,
  ]),
  ["a plain Error (a bug)", () => new Error("bug"), "INTERNAL"],
];

describe("the log level of a failed request", () => {
  it("is the shared table's, and internal failures are errors", () => {
    expect(FAILURE_LOG_LEVEL).toEqual(EXPECTED);
  });

  it.each(cases)("%s: the same on gRPC CheckLimit, gRPC Admin and HTTP", async (_name, make, code) => {
    failure = make();
    const rpc = () => grpcCall(RATE_LIMITER_SERVICE, "CheckLimit", { user_id: "u" });
    const adminRpc = () => grpcCall(ADMIN_SERVICE, "ListOverrides", {});
    const post = () => http.inject({ method: "POST", url: "/api/v1/check-limit", payload: { user_id: "u" } });
    expect({
      grpc: await levelOf(rpc),
      admin: await levelOf(adminRpc),
      http: await levelOf(post),
    }).toEqual({ grpc: EXPECTED[code], admin: EXPECTED[code], http: EXPECTED[code] });
  });
});
