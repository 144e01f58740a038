/**
 * Redis freezes (SIGSTOP) while a client streams requests, then resumes (SIGCONT). Nothing closes:
 * every call in flight just waits, so this is the case where REDIS_TIMEOUT_MS and the breaker
 * are what keep each response within the deadline.
 */
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sleep } from "../harness/processes.js";
import type { RedisServer } from "../harness/redis-server.js";
import { startRedisServer } from "../harness/redis-server.js";
import type { TestServer } from "./support/floodgate.js";
import { call, rlsRequest, startTestServer } from "./support/floodgate.js";
import { FAULT_RULES, metric, REDIS_TIMEOUT_MS, reportTimings, waitFor } from "./support/faults.js";
import { describeOutage } from "./support/outage-scenario.js";

describeOutage("Redis frozen (SIGSTOP) during traffic", async () => {
  const redis: RedisServer = await startRedisServer();
  return {
    url: redis.url,
    fault: () => redis.kill("SIGSTOP"),
    heal: () => redis.kill("SIGCONT"),
    // stop() sends SIGCONT too, so a failed test never leaves a frozen server behind.
    close: () => redis.stop(),
  };
});

/**
 * "After repeated failures it stops trying Redis for a cooldown, so that the hot path pays no
 * timeout at all. Then it probes." A burst of concurrent requests, sent while the breaker is open
 * and again once the cooldown is over: only the probe itself may wait for the deadline.
 */
describe("the open breaker costs the hot path no deadline, not even while it probes", () => {
  const COOLDOWN_MS = 300;
  const BURST = 20;
  /** A response this slow waited for the deadline (the rest take a few ms). */
  const WAITED_MS = REDIS_TIMEOUT_MS * 0.8;
  let redis: RedisServer;
  let server: TestServer;

  beforeAll(async () => {
    redis = await startRedisServer();
    server = await startTestServer({
      rules: FAULT_RULES,
      redisUrl: redis.url,
      env: {
        REDIS_TIMEOUT_MS: String(REDIS_TIMEOUT_MS),
        BREAKER_FAILURES: "3",
        BREAKER_COOLDOWN_MS: String(COOLDOWN_MS),
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await redis?.stop();
  });

  const one = async (user: string): Promise<number> => {
    const t0 = performance.now();
    await call(server.rls, "ShouldRateLimit", rlsRequest("fault", [[["user", user]]]));
    return performance.now() - t0;
  };
  const burst = (label: string) => Promise.all(Array.from({ length: BURST }, (_, i) => one(`${label}${i}`)));

  it("answers a burst at once while open, and makes only the probe wait after the cooldown", async () => {
    await one("warm-up");
    redis.kill("SIGSTOP");
    try {
      await burstsAroundTheProbe();
    } finally {
      redis.kill("SIGCONT");
    }
  });

  async function burstsAroundTheProbe(): Promise<void> {
    // Three sequential deadlines open the breaker.
    for (let i = 0; i < 3; i++) expect(await one(`open${i}`)).toBeGreaterThanOrEqual(REDIS_TIMEOUT_MS - 5);
    const gauge = () => metric(server.app.metrics.registry, "floodgate_store_fallback_active");
    await waitFor("the breaker to open", async () => (await gauge()) === 1, { timeoutMs: 1000 });
    const openedAt = performance.now();

    const whileOpen = await burst("open-burst");
    expect(performance.now() - openedAt, "the burst must fit inside the cooldown").toBeLessThan(COOLDOWN_MS);
    const errorsBefore = await metric(server.app.metrics.registry, "floodgate_redis_errors_total");

    await sleep(COOLDOWN_MS - (performance.now() - openedAt) + 50);
    const whileProbing = await burst("probe-burst");
    const errorsAfter = await metric(server.app.metrics.registry, "floodgate_redis_errors_total");
    reportTimings("breaker burst", {
      openMaxMs: Math.max(...whileOpen),
      probingMaxMs: Math.max(...whileProbing),
      probingWaited: whileProbing.filter((ms) => ms >= WAITED_MS).length,
      probes: errorsAfter - errorsBefore,
    });

    expect(whileOpen.filter((ms) => ms >= WAITED_MS)).toEqual([]);
    // One probe went to the frozen Redis and timed out; it alone may have waited.
    expect(errorsAfter - errorsBefore).toBe(1);
    expect(whileProbing.filter((ms) => ms >= WAITED_MS).length).toBeLessThanOrEqual(1);
  }
});
