/**
 * Clock skew: two Floodgate processes whose wall clocks disagree by an hour (one runs
 * under libfaketime, FAKETIME="+1h") share one Redis. Only Redis TIME enters the bucket math, so
 * alternating requests on one bucket get exactly the decisions one process alone would give.
 * Were a local clock used, the skewed process would see an hour of refill: a full bucket.
 *
 * Needs libfaketime (Debian package "faketime"): scripts/ensure-test-tools.sh installs it.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FloodgateProcess } from "../harness/floodgate-process.js";
import { startFloodgateProcess } from "../harness/floodgate-process.js";
import { uniquePrefix } from "../harness/redis-helpers.js";
import type { RedisServer } from "../harness/redis-server.js";
import { startRedisServer } from "../harness/redis-server.js";
import type { CheckLimitResult } from "./support/floodgate.js";
import { call } from "./support/floodgate.js";
import { metric } from "./support/faults.js";

/** 5 per hour: one token back every 720 s, so nothing refills during the test (on a true clock). */
const RULES = `
domain: api
descriptors:
  - key: user_id
    rate_limit: { unit: hour, requests_per_unit: 5 }
`;
const HOUR_S = 3600;

describe("two processes with clocks an hour apart", () => {
  let redis: RedisServer;
  let rulesDir: string;
  let honest: FloodgateProcess;
  let skewed: FloodgateProcess;

  beforeAll(async () => {
    redis = await startRedisServer();
    rulesDir = await mkdtemp(join(tmpdir(), "fg-skew-"));
    await writeFile(join(rulesDir, "api.yaml"), RULES);
    const common = {
      rulesPath: rulesDir,
      redisUrl: redis.url,
      logLevel: "warn",
      env: { REDIS_KEY_PREFIX: uniquePrefix("skew"), REDIS_TIMEOUT_MS: "2000" },
    };
    [honest, skewed] = await Promise.all([
      startFloodgateProcess(common),
      startFloodgateProcess({ ...common, faketime: "+1h" }),
    ]);
  });
  afterAll(async () => {
    const stops = await Promise.allSettled([honest, skewed].filter(Boolean).map((p) => p.stop()));
    await redis?.stop();
    if (rulesDir !== undefined) await rm(rulesDir, { recursive: true, force: true });
    for (const stop of stops) if (stop.status === "rejected") throw stop.reason;
  });

  const check = (p: FloodgateProcess, user: string) =>
    call<CheckLimitResult>(p.rateLimiter, "CheckLimit", { user_id: user, endpoint: "", weight: 1 });

  it("runs the skewed process an hour ahead", async () => {
    // reset_at is the process's wall clock plus the wait Redis reported: it shows the offset.
    const now = Date.now() / 1000;
    const [a, b] = await Promise.all([check(honest, "clock-a"), check(skewed, "clock-b")]);
    expect(a.reset_at.seconds - now).toBeGreaterThan(700);
    expect(a.reset_at.seconds - now).toBeLessThan(730);
    expect(b.reset_at.seconds - a.reset_at.seconds).toBeGreaterThan(HOUR_S - 10);
    expect(b.reset_at.seconds - a.reset_at.seconds).toBeLessThan(HOUR_S + 10);
    // And so does the HTTP Date header of its responses.
    const date = (await fetch(`${skewed.httpUrl}/healthz`)).headers.get("date");
    expect(Date.parse(date ?? "") / 1000 - Date.now() / 1000).toBeGreaterThan(HOUR_S - 5);
  });

  it("agrees with one process alone on every decision when requests alternate", async () => {
    const run = async (user: string, order: FloodgateProcess[]) => {
      const seen: { allowed: boolean; remaining: number; retryAfterS: number }[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await check(order[i % order.length]!, user);
        seen.push({ allowed: res.allowed, remaining: res.remaining, retryAfterS: res.retry_after.seconds });
      }
      return seen;
    };
    const alternating = await run("alternating", [honest, skewed]);
    const alone = await run("alone", [honest]);

    const decisions = (seen: typeof alone) => seen.map(({ allowed, remaining }) => ({ allowed, remaining }));
    expect(decisions(alternating)).toEqual(decisions(alone));
    expect(decisions(alone)).toEqual([
      ...[4, 3, 2, 1, 0].map((remaining) => ({ allowed: true, remaining })),
      ...Array.from({ length: 5 }, () => ({ allowed: false, remaining: 0 })),
    ]);
    // Retry-after comes from Redis too: the next token is ~720 s away for both processes.
    for (const { allowed, retryAfterS } of [...alternating, ...alone]) {
      if (!allowed) expect(Math.abs(retryAfterS - HOUR_S / 5)).toBeLessThanOrEqual(2);
    }
    // Both processes really decided (from Redis, not from a local store).
    for (const p of [honest, skewed]) {
      expect(await metric(p.httpUrl, "floodgate_decisions_total", { source: "local" })).toBe(0);
      expect(await metric(p.httpUrl, "floodgate_decisions_total")).toBeGreaterThan(0);
    }
  });
});
