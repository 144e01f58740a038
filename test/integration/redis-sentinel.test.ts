/**
 * Sentinel (docs/redis-topologies.md) on a private master + replica + Sentinel. A Floodgate
 * configured with REDIS_SENTINELS answers from the master Sentinel names; then a failover happens
 * while a client streams requests: zero RPCs fail (the local fallback answers during the switch),
 * and afterwards the decisions come from the promoted node again.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSettings } from "../../src/config/settings.js";
import { waitUntilReady } from "../harness/redis-helpers.js";
import { createRedisConnection } from "../../src/store/redis/connection.js";
import { commandStats } from "../harness/redis-helpers.js";
import type { RedisSentinelHandle } from "../harness/redis-sentinel.js";
import { startRedisSentinel } from "../harness/redis-sentinel.js";
import { FAULT_RULES, metric, reportTimings, streamRequests, waitFor } from "./support/faults.js";
import type { ProtoResponse, TestServer } from "./support/floodgate.js";
import { call, OK, rlsRequest, startTestServer } from "./support/floodgate.js";

/** A roomy deadline: a failover is the fault here, not a slow machine. Short cooldown: quick return. */
const ENV = { REDIS_TIMEOUT_MS: "250", BREAKER_FAILURES: "3", BREAKER_COOLDOWN_MS: "300" };

let sentinel: RedisSentinelHandle;
let server: TestServer;
const nodes: Redis[] = [];

function node(port: number): Redis {
  const client = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1 });
  nodes.push(client);
  return client;
}

const fromRedis = () => metric(server.app.metrics.registry, "floodgate_decisions_total", { source: "redis" });

beforeAll(async () => {
  sentinel = await startRedisSentinel();
  server = await startTestServer({
    rules: FAULT_RULES,
    redisUrl: null,
    env: { REDIS_SENTINELS: sentinel.sentinels, REDIS_SENTINEL_MASTER: sentinel.masterName, ...ENV },
  });
});

afterAll(async () => {
  for (const client of nodes) client.disconnect();
  try {
    await server?.stop();
  } finally {
    await sentinel?.stop();
  }
});

describe("Redis behind Sentinel", () => {
  it("connects to the master that Sentinel names", async () => {
    const settings = loadSettings({
      REDIS_SENTINELS: sentinel.sentinels,
      REDIS_SENTINEL_MASTER: sentinel.masterName,
    });
    const connection = createRedisConnection({ settings })!;
    try {
      expect(connection.topology).toBe("sentinel");
      await waitUntilReady(connection.client, 5000);
      const info = await (connection.client as Redis).info("server");
      expect(Number(/tcp_port:(\d+)/.exec(info)?.[1])).toBe(await sentinel.masterPort());
    } finally {
      connection.client.disconnect();
    }
  });

  it("serves decisions from the master through Sentinel", async () => {
    const res = await call<ProtoResponse>(
      server.rls,
      "ShouldRateLimit",
      rlsRequest("fault", [[["user", "first"]]]),
    );
    expect(res.overall_code).toBe(OK);
    expect(await fromRedis()).toBe(1);
    const master = node(await sentinel.masterPort());
    const key = `${server.keyPrefix}{fault|user=first}`;
    expect(await master.exists(key)).toBe(1);
  });

  it("survives a failover during traffic: no RPC fails, then decisions come from the new master", async () => {
    let stop = false;
    const stream = streamRequests({
      rls: server.rls,
      rateLimiter: server.rateLimiter,
      concurrency: 2,
      durationMs: 20_000,
      maxRequests: 100_000,
      pauseMs: 10,
      until: () => stop,
    });
    try {
      await waitFor("traffic from redis", async () => (await fromRedis()) > 5, { timeoutMs: 5000 });
      const promoted = node(await sentinel.failover());
      // A replica runs no client EVALSHA: any call counted on the promoted node came after the switch.
      const evalsha = async () => (await commandStats(promoted))["evalsha"] ?? 0;
      const baseline = await evalsha();
      await waitFor("decisions from the promoted node", async () => (await evalsha()) > baseline + 5, {
        timeoutMs: 10_000,
      });
      const redisDecisions = await fromRedis();
      await waitFor("more decisions from redis", async () => (await fromRedis()) > redisDecisions + 5, {
        timeoutMs: 5000,
      });
    } finally {
      stop = true;
    }
    const result = await stream;
    const registry = server.app.metrics.registry;
    reportTimings("sentinel failover", {
      requests: result.samples.length,
      maxLatencyMs: result.maxLatencyMs,
      redisErrors: await metric(registry, "floodgate_redis_errors_total"),
      fallbackDecisions: await metric(registry, "floodgate_fallback_decisions_total"),
    });
    expect(result.samples.length).toBeGreaterThan(20);
    expect(result.failures).toEqual([]);
  });
});
