import type { ChannelCredentials, ChannelOptions, Client, ServiceClientConstructor } from "@grpc/grpc-js";
import { credentials, makeGenericClientConstructor } from "@grpc/grpc-js";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { inject } from "vitest";
import { loadSettings } from "../../../src/config/settings.js";
import type { Floodgate } from "../../../src/app/floodgate.js";
import { startFloodgate } from "../../../src/app/floodgate.js";
import { grpcObject } from "../../../src/transport/grpc/proto.js";
import { rawMethod } from "../../harness/raw-grpc.js";
import { deleteByPrefix, uniquePrefix } from "../../harness/redis-helpers.js";
import { Redis } from "ioredis";

/** A real Floodgate on port 0, with its own rules directory and Redis key prefix. */
export interface TestServer {
  readonly app: Floodgate;
  readonly rulesDir: string;
  readonly keyPrefix: string;
  readonly rls: UnaryClient;
  readonly rateLimiter: UnaryClient;
  readonly raw: RawClient;
  readonly httpUrl: string;
  /** Every log line the server wrote, parsed (level "debug" and up). */
  readonly logs: Record<string, unknown>[];
  writeRules(file: string, yaml: string): Promise<void>;
  stop(): Promise<void>;
}

export type UnaryClient = Client &
  Record<string, (req: object, cb: (err: Error | null, res: never) => void) => void>;
export type RawClient = Client & { call(req: Buffer, cb: (err: Error | null, res: Buffer) => void): void };

export interface StartOptions {
  readonly rules: Record<string, string>;
  readonly env?: Record<string, string>;
  /** Use the in-memory store instead of the harness Redis. */
  readonly memory?: boolean;
  /**
   * A Redis other than the suite's (for example a private one whose stats a test reads), or
   * null to set no REDIS_URL at all (the topology then comes from `env`, e.g. REDIS_CLUSTER_NODES).
   */
  readonly redisUrl?: string | null;
  /** How the clients reach a TLS server (grpcTls in test/harness/listener-tls.ts); plain text if unset. */
  readonly credentials?: ChannelCredentials;
}

function lookup(path: string): ServiceClientConstructor {
  let node: unknown = grpcObject();
  for (const part of path.split(".")) node = (node as Record<string, unknown>)[part];
  return node as ServiceClientConstructor;
}

/** A floodgate.v1.RateLimiter client of its own (for example with other TLS credentials). */
export function rateLimiterClient(
  address: string,
  creds: ChannelCredentials,
  options?: ChannelOptions,
): UnaryClient {
  const RateLimiter = lookup("floodgate.v1.RateLimiter");
  return new RateLimiter(address, creds, options) as unknown as UnaryClient;
}

/** A client that knows nothing of our .proto files: bytes in, bytes out. */
function rawRlsClient(address: string, creds: ChannelCredentials): RawClient {
  const Ctor = makeGenericClientConstructor(
    { call: rawMethod("/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit") },
    "RawRls",
  );
  return new Ctor(address, creds) as unknown as RawClient;
}

/** Deletes only this server's keys; the suite's Redis may be shared. */
async function cleanUp(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await deleteByPrefix(client, prefix);
  } finally {
    client.disconnect();
  }
}

export async function startTestServer(options: StartOptions): Promise<TestServer> {
  const rulesDir = await mkdtemp(join(tmpdir(), "fg-rules-"));
  for (const [file, yaml] of Object.entries(options.rules)) await writeFile(join(rulesDir, file), yaml);
  const keyPrefix = uniquePrefix();
  const redisUrl =
    options.memory || options.redisUrl === null ? undefined : (options.redisUrl ?? inject("redisUrl"));
  const logs: Record<string, unknown>[] = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const settings = loadSettings({
    HOST: "127.0.0.1",
    GRPC_PORT: "0",
    HTTP_PORT: "0",
    RULES_PATH: rulesDir,
    REDIS_KEY_PREFIX: keyPrefix,
    REDIS_TIMEOUT_MS: "1000",
    SHUTDOWN_GRACE_MS: "1000",
    ...(redisUrl === undefined ? {} : { REDIS_URL: redisUrl }),
    ...options.env,
  });
  const app = await startFloodgate(settings, { logger });
  const address = `127.0.0.1:${app.grpcPort}`;
  const RLS = lookup("envoy.service.ratelimit.v3.RateLimitService");
  const creds = options.credentials ?? credentials.createInsecure();
  const rls = new RLS(address, creds) as unknown as UnaryClient;
  const rateLimiter = rateLimiterClient(address, creds);
  const raw = rawRlsClient(address, creds);
  return {
    app,
    rulesDir,
    keyPrefix,
    rls,
    rateLimiter,
    raw,
    httpUrl: `${settings.tls === undefined ? "http" : "https"}://127.0.0.1:${app.httpPort}`,
    logs,
    writeRules: (file, yaml) => writeFile(join(rulesDir, file), yaml),
    stop: async () => {
      for (const client of [rls, rateLimiter, raw]) client.close();
      await app.close();
      await rm(rulesDir, { recursive: true, force: true });
      if (redisUrl !== undefined) await cleanUp(redisUrl, keyPrefix).catch(() => undefined);
    },
  };
}

/** Promisified unary call. */
export function call<T>(client: UnaryClient, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method]!(request, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

export function callRaw(client: RawClient, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    client.call(bytes, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

export interface ProtoStatus {
  code: number;
  current_limit: { name: string; requests_per_unit: number; unit: number } | null;
  limit_remaining: number;
  duration_until_reset: { seconds: number; nanos: number } | null;
}
export interface ProtoResponse {
  overall_code: number;
  statuses: ProtoStatus[];
  response_headers_to_add: { key: string; value: string }[];
}

/** floodgate.v1.RateLimiter/CheckLimit's response, as proto-loader decodes it. */
export interface CheckLimitResult {
  allowed: boolean;
  remaining: number;
  reset_at: { seconds: number; nanos: number };
  retry_after: { seconds: number; nanos: number };
}

export type Entries = [string, string][];

/** Builds a RateLimitRequest the way Envoy would send it. */
export function rlsRequest(
  domain: string,
  descriptors: (Entries | { entries: Entries; [k: string]: unknown })[],
  extra: object = {},
): object {
  return {
    domain,
    descriptors: descriptors.map((d) => {
      const { entries, ...rest } = Array.isArray(d) ? { entries: d } : d;
      return { entries: entries.map(([key, value]) => ({ key, value })), ...rest };
    }),
    ...extra,
  };
}

export const OK = 1;
export const OVER_LIMIT = 2;
