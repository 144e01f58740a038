/**
 * The local over-limit cache (README, "Sizing"): a bucket Redis has just denied is remembered until
 * it could hold enough tokens again, so a flood from one abusive client costs (almost) no Redis
 * calls; once the bucket has refilled, requests reach Redis again.
 *
 * A private redis-server, so that INFO commandstats counts only this test's calls.
 */
import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commandStats, statsDelta } from "../harness/redis-helpers.js";
import type { RedisServer } from "../harness/redis-server.js";
import { startRedisServer } from "../harness/redis-server.js";
import type { ProtoResponse, TestServer } from "./support/floodgate.js";
import { call, OK, OVER_LIMIT, rlsRequest, startTestServer } from "./support/floodgate.js";
import { metric, reportTimings, waitFor } from "./support/faults.js";

/** C = 3, r = 75/min = 1.25/s: one token every 800 ms, so a refill is quick to wait for. */
const FLOOD_RULES = `
domain: flood
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 75, burst: 3 }
`;
const TOKEN_MS = 800;
const FLOOD = 500;
const CONCURRENCY = 10;
/** "At most a handful of EVALSHA" for the whole flood. */
const HANDFUL = 5;

describe("over-limit cache", () => {
  let redis: RedisServer;
  let server: TestServer;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedisServer();
    server = await startTestServer({ rules: { "flood.yaml": FLOOD_RULES }, redisUrl: redis.url });
    admin = new Redis(redis.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
    await redis?.stop();
  });

  const hit = () =>
    call<ProtoResponse>(server.rls, "ShouldRateLimit", rlsRequest("flood", [[["user", "abuser"]]]));
  const decisions = (labels: Record<string, string>) =>
    metric(server.app.metrics.registry, "floodgate_decisions_total", { domain: "flood", ...labels });

  it("answers a flood of one denied key locally, then asks Redis again once it has refilled", async () => {
    // Drain the bucket: Redis allows three and denies the fourth, which the cache remembers.
    const first = [];
    for (let i = 0; i < 4; i++) first.push((await hit()).overall_code);
    const deniedAt = performance.now();
    expect(first).toEqual([OK, OK, OK, OVER_LIMIT]);

    const before = await commandStats(admin);
    const cachedBefore = await decisions({ source: "local_cache" });
    const outcomes: number[] = [];
    let sent = 0;
    const loop = async (): Promise<void> => {
      while (sent < FLOOD) {
        sent++;
        outcomes.push((await hit()).overall_code);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, loop));
    const floodMs = performance.now() - deniedAt;
    const after = await commandStats(admin);
    const delta = statsDelta(before, after, ["evalsha", "eval"]);
    const cached = (await decisions({ source: "local_cache" })) - cachedBefore;
    reportTimings("over-limit flood", { floodMs, evalsha: delta.evalsha!, eval: delta.eval!, cached });

    expect(outcomes).toHaveLength(FLOOD);
    // A token comes back every 800 ms; a flood that outlasts one may see it, and nothing more.
    const allowedInFlood = outcomes.filter((c) => c === OK).length;
    expect(allowedInFlood).toBeLessThanOrEqual(Math.floor(floodMs / TOKEN_MS));
    expect(delta.evalsha! + delta.eval!).toBeLessThanOrEqual(HANDFUL);
    expect(cached).toBeGreaterThanOrEqual(0.9 * FLOOD);

    // Once a token is back, the cache lets the request through to Redis, which allows it.
    const redisBefore = await decisions({ source: "redis", outcome: "allowed" });
    const evalshaBefore = (await commandStats(admin)).evalsha ?? 0;
    await waitFor("the refilled bucket to allow a request", async () => (await hit()).overall_code === OK, {
      timeoutMs: 2 * TOKEN_MS,
      intervalMs: 20,
    });
    const refilledAfterMs = performance.now() - deniedAt;
    reportTimings("over-limit refill", { refilledAfterMs });
    // Remembered until the bucket could pass again, and not (much) longer.
    expect(refilledAfterMs).toBeLessThan(TOKEN_MS * (allowedInFlood + 1) + 400);
    expect(await decisions({ source: "redis", outcome: "allowed" })).toBe(redisBefore + 1);
    expect((await commandStats(admin)).evalsha ?? 0).toBeGreaterThan(evalshaBefore);
  });
});
