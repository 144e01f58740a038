/**
 * Redis unreachable, killed or frozen while no request flows (README, "When Redis fails"): the
 * store's state follows the connection and an idle PING, not only the requests, so the gauge,
 * /readyz and the alert are right with no traffic at all. No test here sends a single request.
 */
import { performance } from "node:perf_hooks";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { freePort, sleep } from "../harness/processes.js";
import type { RedisServer } from "../harness/redis-server.js";
import { startRedisServer } from "../harness/redis-server.js";
import type { ProtoResponse, TestServer } from "./support/floodgate.js";
import { call, OK, OVER_LIMIT, rlsRequest, startTestServer } from "./support/floodgate.js";
import {
  enteredFallbackLines,
  FAULT_ENV,
  FAULT_RULES,
  leftFallbackLines,
  metric,
  readyz,
  waitFor,
} from "./support/faults.js";

/** The idle PING runs every 200 ms here; a few seconds is the bound the README promises. */
const IDLE_ENV = { ...FAULT_ENV, REDIS_IDLE_PING_MS: "200" };
const DETECT_TIMEOUT_MS = 3000;
/** Reconnect backoff (≤ 2 s) plus the cooldown. */
const RECOVERY_TIMEOUT_MS = 6000;

const gauge = (server: TestServer) => metric(server.app.metrics.registry, "floodgate_store_fallback_active");

async function isDegraded(server: TestServer): Promise<boolean> {
  const health = await readyz(server.httpUrl);
  return health.status === 200 && health.components.redis === "degraded" && (await gauge(server)) === 1;
}

async function isHealthy(server: TestServer): Promise<boolean> {
  const health = await readyz(server.httpUrl);
  return health.status === 200 && health.components.redis === "ok" && (await gauge(server)) === 0;
}

describe("a REDIS_URL that points at a closed port", () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it("is reported at once, with no request: /readyz degraded, the gauge 1, one alert", async () => {
    const port = await freePort();
    const started = performance.now();
    server = await startTestServer({
      rules: FAULT_RULES,
      redisUrl: `redis://127.0.0.1:${port}`,
      env: IDLE_ENV,
    });
    // A refused connection is an answer: startup need not wait out its connect budget (3 s).
    expect(performance.now() - started).toBeLessThan(1500);
    const s = server;
    await waitFor("/readyz degraded and the gauge at 1", () => isDegraded(s), { timeoutMs: 1000 });
    expect(enteredFallbackLines(s.logs)).toHaveLength(1);
    expect(leftFallbackLines(s.logs)).toHaveLength(0);
  });
});

describe("Redis killed while no request flows", () => {
  let redis: RedisServer;
  let server: TestServer;
  afterAll(async () => {
    await server?.stop();
    await redis?.stop();
  });

  it("turns the gauge to 1 and /readyz degraded without a request, then back once Redis is", async () => {
    redis = await startRedisServer();
    const port = redis.port;
    server = await startTestServer({ rules: FAULT_RULES, redisUrl: redis.url, env: IDLE_ENV });
    await waitFor("a healthy start", () => isHealthy(server), { timeoutMs: 2000 });

    redis.kill("SIGKILL");
    await waitFor("the fallback, with no traffic", () => isDegraded(server), {
      timeoutMs: DETECT_TIMEOUT_MS,
    });
    expect(enteredFallbackLines(server.logs)).toHaveLength(1);

    redis = await startRedisServer({ port });
    await waitFor("the return to Redis, with no traffic", () => isHealthy(server), {
      timeoutMs: RECOVERY_TIMEOUT_MS,
    });
    expect(enteredFallbackLines(server.logs)).toHaveLength(1);
    expect(leftFallbackLines(server.logs)).toHaveLength(1);
  });
});

describe("Redis frozen while no request flows", () => {
  let redis: RedisServer;
  let server: TestServer;
  afterAll(async () => {
    await server?.stop();
    await redis?.stop();
  });

  it("is found by the idle PING (its deadline), and found back once Redis resumes", async () => {
    redis = await startRedisServer();
    server = await startTestServer({ rules: FAULT_RULES, redisUrl: redis.url, env: IDLE_ENV });
    await waitFor("a healthy start", () => isHealthy(server), { timeoutMs: 2000 });

    redis.kill("SIGSTOP");
    await waitFor("the fallback, with no traffic", () => isDegraded(server), {
      timeoutMs: DETECT_TIMEOUT_MS,
    });
    expect(enteredFallbackLines(server.logs)).toHaveLength(1);

    redis.kill("SIGCONT");
    await waitFor("the return to Redis, with no traffic", () => isHealthy(server), {
      timeoutMs: RECOVERY_TIMEOUT_MS,
    });
    expect(leftFallbackLines(server.logs)).toHaveLength(1);
  });
});

/** One request an hour: once denied, the over-limit cache answers this key for the whole test. */
const DENIED_RULES = `
domain: flood
descriptors:
  - key: user
    rate_limit: { unit: hour, requests_per_unit: 1 }
`;

describe("Redis frozen while the over-limit cache answers every request", () => {
  let redis: RedisServer;
  let server: TestServer;
  afterAll(async () => {
    // The test server's clean-up connects to this Redis: it must be running again.
    redis?.kill("SIGCONT");
    await server?.stop();
    await redis?.stop();
  });

  it("is found by the idle PING although requests keep coming", async () => {
    redis = await startRedisServer();
    server = await startTestServer({
      rules: { "flood.yaml": DENIED_RULES },
      redisUrl: redis.url,
      env: IDLE_ENV,
    });
    const hit = async () =>
      (await call<ProtoResponse>(server.rls, "ShouldRateLimit", rlsRequest("flood", [[["user", "abuser"]]])))
        .overall_code;
    expect([await hit(), await hit()]).toEqual([OK, OVER_LIMIT]);
    const fromCache = () =>
      metric(server.app.metrics.registry, "floodgate_decisions_total", { source: "local_cache" });
    const cachedBefore = await fromCache();

    redis.kill("SIGSTOP");
    let flooding = true;
    const flood = (async () => {
      while (flooding) {
        expect(await hit()).toBe(OVER_LIMIT);
        await sleep(20);
      }
    })();
    try {
      await waitFor("the fallback while the cache answers", () => isDegraded(server), {
        timeoutMs: DETECT_TIMEOUT_MS,
      });
    } finally {
      flooding = false;
      await flood;
    }
    expect(await fromCache()).toBeGreaterThan(cachedBefore + 10);
    expect(enteredFallbackLines(server.logs)).toHaveLength(1);
  });
});
