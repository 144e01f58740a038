/**
 * Server (d), the peer: what a Node team would wire up without Floodgate. A bare @grpc/grpc-js
 * ShouldRateLimit that decodes the request with proto-loader (the same protos) and decides each
 * descriptor with rate-limiter-flexible's RateLimiterRedis on an ioredis client, one limiter per
 * rule, all descriptors in parallel. Same limits as the Floodgate rules (fixed windows here).
 *
 * Usage (from bench/run.js): server-peer.js <redis url>
 */
import type { sendUnaryData, ServerUnaryCall, ServiceDefinition } from "@grpc/grpc-js";
import { Server, status } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { packageDefinition, RLS_SERVICE } from "../src/transport/grpc/proto.js";
import { reportFailure, serveGrpcParent } from "./child.js";
import { LIMITS } from "./workload.js";

const OK = 1;
const OVER_LIMIT = 2;

interface Entry {
  key: string;
  value: string;
}
interface Request {
  domain: string;
  descriptors: { entries: Entry[] }[];
}
interface Status {
  code: number;
  limit_remaining: number;
}

function limiters(redis: Redis): Map<string, RateLimiterRedis> {
  const byKeys = new Map<string, RateLimiterRedis>();
  for (const limit of LIMITS) {
    byKeys.set(
      limit.keys,
      new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `peer:${limit.keys}`,
        points: limit.requestsPerUnit,
        duration: limit.unitSeconds,
      }),
    );
  }
  return byKeys;
}

async function decide(byKeys: Map<string, RateLimiterRedis>, entries: Entry[]): Promise<Status> {
  const limiter = byKeys.get(entries.map((entry) => entry.key).join("."));
  if (limiter === undefined) return { code: OK, limit_remaining: 0 };
  try {
    const result = await limiter.consume(entries.map((entry) => entry.value).join(":"));
    return { code: OK, limit_remaining: result.remainingPoints };
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes) return { code: OVER_LIMIT, limit_remaining: 0 };
    throw rejection;
  }
}

async function main(): Promise<void> {
  const [redisUrl] = process.argv.slice(2);
  if (redisUrl === undefined) throw new Error("usage: server-peer.js <redis url>");
  const redis = new Redis(redisUrl);
  const byKeys = limiters(redis);
  let requests = 0;
  const server = new Server();
  const handler = (call: ServerUnaryCall<Request, unknown>, callback: sendUnaryData<unknown>): void => {
    requests++;
    Promise.all(call.request.descriptors.map((d) => decide(byKeys, d.entries))).then(
      (statuses) => {
        const overall = statuses.some((s) => s.code === OVER_LIMIT) ? OVER_LIMIT : OK;
        callback(null, { overall_code: overall, statuses });
      },
      (err: unknown) => callback({ code: status.UNAVAILABLE, details: String(err) }),
    );
  };
  const definition = packageDefinition()[RLS_SERVICE] as ServiceDefinition;
  server.addService(definition, { ShouldRateLimit: handler });
  await serveGrpcParent(server, { requests: () => requests, afterShutdown: () => redis.disconnect() });
}

main().catch(reportFailure);
