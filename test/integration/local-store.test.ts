/**
 * The local store (README, "When Redis fails" and "Sizing"): bounded by LOCAL_MAX_BUCKETS with
 * least-recently-used eviction, and, in fallback, capacity and rate divided by FALLBACK_DIVISOR.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisServer } from "../harness/redis-server.js";
import { startRedisServer } from "../harness/redis-server.js";
import type { ProtoResponse, TestServer } from "./support/floodgate.js";
import { call, OK, OVER_LIMIT, rlsRequest, startTestServer } from "./support/floodgate.js";
import { metric, reportTimings } from "./support/faults.js";

const LOCAL_RULES = `
domain: local
descriptors:
  - key: k
    rate_limit: { unit: hour, requests_per_unit: 1000 }
  - key: d
    rate_limit: { unit: minute, requests_per_unit: 10 }
`;

const check = (server: TestServer, key: string, value: string) =>
  call<ProtoResponse>(server.rls, "ShouldRateLimit", rlsRequest("local", [[[key, value]]]));

describe("LRU bound of the local store", () => {
  const BOUND = 100;
  const DISTINCT = BOUND * 10;
  const CONCURRENCY = 8;
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      rules: { "local.yaml": LOCAL_RULES },
      memory: true,
      env: { LOCAL_MAX_BUCKETS: String(BOUND) },
    });
  });
  afterAll(async () => server?.stop());

  it(`holds at most ${BOUND} buckets under ${DISTINCT} distinct keys, evicting least recently used first`, async () => {
    const registry = server.app.metrics.registry;
    // "hot" is used every few keys, so it is never the least recently used: it must survive.
    let hotHits = 0;
    let next = 0;
    const started = performance.now();
    const loop = async (): Promise<void> => {
      while (next < DISTINCT) {
        const n = next++;
        if (n % 10 === 0) {
          hotHits++;
          expect((await check(server, "k", "hot")).overall_code).toBe(OK);
        }
        expect((await check(server, "k", `key-${n}`)).overall_code).toBe(OK);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, loop));
    const buckets = await metric(registry, "floodgate_local_buckets");
    const evictions = await metric(registry, "floodgate_local_evictions_total");
    reportTimings("LRU flood", {
      requests: DISTINCT + hotHits,
      ms: performance.now() - started,
      buckets,
      evictions,
    });

    expect(buckets).toBeGreaterThan(0);
    expect(buckets).toBeLessThanOrEqual(BOUND);
    expect(evictions).toBeGreaterThanOrEqual(9 * BOUND);
    // Still held: the next hit sees every earlier one (an evicted bucket would come back full).
    const hot = await check(server, "k", "hot");
    expect(hot.statuses[0]!.limit_remaining).toBe(1000 - hotHits - 1);
    // Long evicted: key-0 comes back as a new, full bucket.
    expect((await check(server, "k", "key-0")).statuses[0]!.limit_remaining).toBe(999);
  });
});

describe("FALLBACK_DIVISOR in fallback", () => {
  let redis: RedisServer;
  let server: TestServer;
  beforeAll(async () => {
    redis = await startRedisServer();
    server = await startTestServer({
      rules: { "local.yaml": LOCAL_RULES },
      redisUrl: redis.url,
      env: { FALLBACK_DIVISOR: "2", REDIS_TIMEOUT_MS: "50", BREAKER_COOLDOWN_MS: "60000" },
    });
  });
  let stopped = false;
  afterAll(async () => {
    if (!stopped) await server?.stop();
    await redis?.stop();
  });

  it("allows C/2 from the local store while Redis is down, refilling at r/2", async () => {
    const registry = server.app.metrics.registry;
    expect((await check(server, "d", "warm-up")).overall_code).toBe(OK);
    redis.kill("SIGKILL");
    const localBefore = await metric(registry, "floodgate_decisions_total", { source: "local" });

    // C = 10 per minute; divided by 2: 5 tokens, refilled at 5 per minute.
    const responses: ProtoResponse[] = [];
    for (let i = 0; i < 7; i++) responses.push(await check(server, "d", "x"));
    expect(responses.map((r) => r.overall_code)).toEqual([OK, OK, OK, OK, OK, OVER_LIMIT, OVER_LIMIT]);
    expect(responses.map((r) => r.statuses[0]!.limit_remaining)).toEqual([4, 3, 2, 1, 0, 0, 0]);
    // One token short of 5, at 5 per minute: full again in 12 s (undivided, it would be 6 s).
    expect(responses[0]!.statuses[0]!.duration_until_reset).toMatchObject({ seconds: 12 });
    expect(await metric(registry, "floodgate_decisions_total", { source: "local" })).toBe(localBefore + 7);
    expect(await metric(registry, "floodgate_store_fallback_active")).toBe(1);
  });

  // Pods are restarted precisely when something is wrong: shutdown must not depend on Redis.
  it("shuts down cleanly while Redis is still down", async () => {
    stopped = true;
    await expect(server.stop()).resolves.toBeUndefined();
  });
});
