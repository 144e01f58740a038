/**
 * One scenario, three faults (README, "When Redis fails"): Redis killed, frozen, or cut off by a
 * blackhole while a client streams requests. Each fault test file supplies how to break and heal
 * its Redis; the assertions are the same for all three:
 * - zero RPCs fail, and every response arrives within REDIS_TIMEOUT_MS plus a small margin;
 * - the breaker: the Redis calls that fail are bounded by the threshold, the calls in flight and
 *   one probe per cooldown, not one per request;
 * - the gauge, exactly one error log line with a reason, and /readyz (still 200, redis
 *   "degraded…") flip;
 * - once Redis is healthy, decisions come from Redis again within a few seconds, with exactly one
 *   info line, the gauge back at 0 and /readyz "ok".
 */
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sleep } from "../../harness/processes.js";
import type { TestServer } from "./floodgate.js";
import { call, rlsRequest, startTestServer } from "./floodgate.js";
import type { StreamResult } from "./faults.js";
import {
  enteredFallbackLines,
  FAULT_ENV,
  FAULT_RULES,
  LATENCY_MARGIN_MS,
  leftFallbackLines,
  metric,
  percentile,
  readyz,
  REDIS_TIMEOUT_MS,
  reportTimings,
  streamRequests,
  waitFor,
} from "./faults.js";

export interface Outage {
  /** The Redis URL Floodgate is given. */
  readonly url: string;
  /** Breaks Redis (or the path to it). */
  fault(): void | Promise<void>;
  /**
   * The fault closes the connection (a crash): the client reports it and the replica enters
   * fallback at once, so only calls already in flight can fail, possibly none. Otherwise (a
   * freeze, a black hole) calls time out until the breaker opens, so some must fail.
   */
  readonly closesConnection?: boolean;
  /** Makes it healthy again. */
  heal(): void | Promise<void>;
  /** Stops everything the outage started. */
  close(): Promise<void>;
}

const BOUND_MS = REDIS_TIMEOUT_MS + LATENCY_MARGIN_MS;
/** The stream: a few hundred requests over ~3 s, 4 in flight at most; the fault hits at 1 s. */
const STREAM = { concurrency: 4, durationMs: 3000, maxRequests: 400, pauseMs: 25 };
const FAULT_AT_MS = 1000;
/** "Within a few seconds" of healing: reconnect backoff (≤ 2 s) plus the 500 ms cooldown. */
const RECOVERY_TIMEOUT_MS = 6000;

/** Redis calls that can fail during an outage of `outageMs` with the breaker working. */
function breakerCallBound(outageMs: number): number {
  const failures = Number(FAULT_ENV.BREAKER_FAILURES);
  const probes = Math.ceil(outageMs / Number(FAULT_ENV.BREAKER_COOLDOWN_MS)) + 1;
  return failures + STREAM.concurrency + probes;
}

function expectNoFailureAndBoundedLatency(result: StreamResult): void {
  expect(result.failures).toEqual([]);
  const slow = result.samples.filter((s) => s.latencyMs > BOUND_MS);
  expect(slow, `responses slower than ${BOUND_MS} ms`).toEqual([]);
}

export function describeOutage(title: string, makeOutage: () => Promise<Outage>): void {
  describe(title, () => {
    let outage: Outage;
    let server: TestServer;
    const source = () => server.app.metrics.registry;
    const gauge = () => metric(source(), "floodgate_store_fallback_active");
    const fromRedis = () => metric(source(), "floodgate_decisions_total", { source: "redis" });

    beforeAll(async () => {
      outage = await makeOutage();
      server = await startTestServer({ rules: FAULT_RULES, redisUrl: outage.url, env: FAULT_ENV });
    });
    afterAll(async () => {
      await server?.stop();
      await outage?.close();
    });

    it("decides from Redis while Redis is healthy", async () => {
      const before = await fromRedis();
      await call(server.rls, "ShouldRateLimit", rlsRequest("fault", [[["user", "warm-up"]]]));
      expect(await fromRedis()).toBe(before + 1);
      expect(await gauge()).toBe(0);
      expect(await readyz(server.httpUrl)).toMatchObject({ status: 200, components: { redis: "ok" } });
    });

    it("keeps answering every request within the deadline, and raises the alert", async () => {
      const streaming = streamRequests({ rls: server.rls, rateLimiter: server.rateLimiter, ...STREAM });
      await sleep(FAULT_AT_MS);
      const faultAt = performance.now();
      await outage.fault();
      const alertMs = await waitFor("the fallback gauge to turn 1", async () => (await gauge()) === 1, {
        timeoutMs: 2000,
      });
      const result = await streaming;
      const outageMs = performance.now() - faultAt;
      const redisErrors = await metric(source(), "floodgate_redis_errors_total");
      const paidDeadline = result.samples.filter((s) => s.latencyMs >= REDIS_TIMEOUT_MS).length;
      const afterFault = result.samples.filter((s) => s.at >= FAULT_AT_MS).map((s) => s.latencyMs);
      reportTimings(`${title} / outage`, {
        requests: result.samples.length + result.failures.length,
        afterFault: afterFault.length,
        maxMs: result.maxLatencyMs,
        p99Ms: percentile(afterFault, 99),
        p50Ms: percentile(afterFault, 50),
        alertMs,
        redisErrors,
        paidDeadline,
        streamMs: result.elapsedMs,
      });

      expect(result.samples.length).toBeGreaterThanOrEqual(200);
      expect(afterFault.length).toBeGreaterThanOrEqual(100);
      expectNoFailureAndBoundedLatency(result);
      // The breaker: once open, no Redis call is made but one probe per cooldown. So the calls
      // that failed are those before it opened, those already in flight, and the probes; not one
      // per request. (fault-redis-freeze.test.ts checks that the others wait for no deadline.)
      if (outage.closesConnection !== true) expect(redisErrors).toBeGreaterThan(0);
      expect(redisErrors).toBeLessThanOrEqual(breakerCallBound(outageMs));

      const text = await source().metrics();
      expect(text).toMatch(/^floodgate_store_fallback_active 1$/m);
      const registry = source();
      expect(await metric(registry, "floodgate_store_fallback_transitions_total", { to: "local" })).toBe(1);
      expect(await metric(registry, "floodgate_store_fallback_transitions_total", { to: "redis" })).toBe(0);
      expect(await metric(registry, "floodgate_fallback_decisions_total")).toBeGreaterThan(0);
      if (outage.closesConnection !== true) {
        expect(await metric(registry, "floodgate_redis_errors_total")).toBeGreaterThan(0);
      }
      expect(await metric(registry, "floodgate_decisions_total", { source: "local" })).toBeGreaterThan(0);

      expect(enteredFallbackLines(server.logs)).toHaveLength(1);
      expect(leftFallbackLines(server.logs)).toHaveLength(0);
      const health = await readyz(server.httpUrl);
      expect(health.status).toBe(200);
      // The state only: the reason is in the log line above, not on an unauthenticated endpoint.
      expect(health.components.redis).toBe("degraded");
    });

    it("returns to Redis by itself within a few seconds once Redis is healthy", async () => {
      let recovered = false;
      const streaming = streamRequests({
        rls: server.rls,
        rateLimiter: server.rateLimiter,
        ...STREAM,
        durationMs: RECOVERY_TIMEOUT_MS + 1000,
        maxRequests: 1000,
        until: () => recovered,
      });
      await outage.heal();
      try {
        const backMs = await waitFor(
          "a decision from Redis and the gauge at 0",
          async () => {
            const before = await fromRedis();
            await call(server.rls, "ShouldRateLimit", rlsRequest("fault", [[["user", "probe"]]]));
            return (await fromRedis()) > before && (await gauge()) === 0;
          },
          { timeoutMs: RECOVERY_TIMEOUT_MS, intervalMs: 50 },
        );
        reportTimings(`${title} / recovery`, { backMs });
      } finally {
        recovered = true;
      }
      const result = await streaming;
      reportTimings(`${title} / recovery stream`, {
        requests: result.samples.length,
        maxMs: result.maxLatencyMs,
        p99Ms: percentile(
          result.samples.map((s) => s.latencyMs),
          99,
        ),
      });
      expectNoFailureAndBoundedLatency(result);

      const registry = source();
      expect(await metric(registry, "floodgate_store_fallback_transitions_total", { to: "redis" })).toBe(1);
      expect(await metric(registry, "floodgate_store_fallback_transitions_total", { to: "local" })).toBe(1);
      expect(leftFallbackLines(server.logs)).toHaveLength(1);
      expect(enteredFallbackLines(server.logs)).toHaveLength(1);
      expect(await readyz(server.httpUrl)).toMatchObject({ status: 200, components: { redis: "ok" } });
    });
  });
}
