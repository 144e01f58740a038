/**
 * Global correctness: three Floodgate processes share one Redis, and concurrent clients
 * hammer one bucket through all three. The bucket lives in Redis and its clock is Redis TIME, so
 * the total allowed is what one bucket allows: C + r × elapsed, within ±1.
 *
 * Why ±1, with elapsed = first request sent → last response received (client clock, same host):
 * let A be the number allowed, t_a and t_b the Redis times of the first and last evaluations.
 * The bucket is created full at t_a and refills continuously, so A = C + r·(t_b − t_a) − T,
 * where T ∈ [0, 1 + ε) is what is left after the last evaluation: with 24 streams sending, a
 * refilled token is claimed within about a millisecond (ε = r × that, well under 0.01 token).
 * Every evaluation happens inside the client's window, so t_b − t_a = elapsed − d, where d is
 * the time at both ends that the client counts but Redis does not (first send → first
 * evaluation, last evaluation → last response). Hence
 *     C + r·elapsed − 1 − r·d − ε  <  A  ≤  C + r·elapsed.
 * The streams stop sending at a half-token time (7.5 tokens after the start), so C + r·elapsed
 * lies mid-way between two integers: each end may take up to 0.5 token (100 ms at r = 5/s)
 * before A leaves the ±1 band. The slow r (5/s) keeps that margin wide on purpose: on a shared
 * 2-core machine a round trip under load was measured at 100+ ms. The client also
 * measures an upper bound of d (first response − first send, plus last response − last send) and
 * re-measures, on a fresh bucket, a run where d was too large to resolve ±1 (at most 3 runs; the
 * last is asserted whatever its d, so load can fail this test but never skip it).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FloodgateProcess } from "../harness/floodgate-process.js";
import { startFloodgateProcess } from "../harness/floodgate-process.js";
import { sleep } from "../harness/processes.js";
import { uniquePrefix } from "../harness/redis-helpers.js";
import type { RedisServer } from "../harness/redis-server.js";
import { startRedisServer } from "../harness/redis-server.js";
import type { ProtoResponse } from "./support/floodgate.js";
import { call, OK, OVER_LIMIT, rlsRequest } from "./support/floodgate.js";
import { metric, reportTimings } from "./support/faults.js";

const CAPACITY = 20;
const RATE_PER_S = 5;
const RULES = `
domain: gc
descriptors:
  - key: bucket
    rate_limit: { unit: second, requests_per_unit: ${RATE_PER_S}, burst: ${CAPACITY} }
`;
const PROCESSES = 3;
const STREAMS_PER_PROCESS = 8;
/** Stop sending after 7.5 refilled tokens: 1.5 s, and a half-token time (see above). */
const SEND_FOR_MS = (7.5 / RATE_PER_S) * 1000;
/**
 * Each stream pauses this long between requests: still ~2000 requests/s in all, so a refilled
 * token is claimed within a millisecond, without saturating two cores (which would only add noise).
 */
const PAUSE_MS = 10;
/** A run is sharp enough when what the client could not see is under 0.4 token (80 ms here). */
const MAX_SLACK_TOKENS = 0.4;
const MAX_RUNS = 3;

describe("global correctness across processes", () => {
  let redis: RedisServer;
  let rulesDir: string;
  let processes: FloodgateProcess[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    rulesDir = await mkdtemp(join(tmpdir(), "fg-gc-"));
    await writeFile(join(rulesDir, "gc.yaml"), RULES);
    const prefix = uniquePrefix("gc");
    processes = await Promise.all(
      Array.from({ length: PROCESSES }, () =>
        startFloodgateProcess({
          rulesPath: rulesDir,
          redisUrl: redis.url,
          logLevel: "warn",
          // A generous deadline: this test is about Redis deciding, not about the fallback.
          env: { REDIS_KEY_PREFIX: prefix, REDIS_TIMEOUT_MS: "2000" },
        }),
      ),
    );
  });
  afterAll(async () => {
    const stops = await Promise.allSettled(processes.map((p) => p.stop()));
    await redis?.stop();
    if (rulesDir !== undefined) await rm(rulesDir, { recursive: true, force: true });
    for (const stop of stops) if (stop.status === "rejected") throw stop.reason;
  });

  const hit = (p: FloodgateProcess, bucket: string) =>
    call<ProtoResponse>(p.rls, "ShouldRateLimit", rlsRequest("gc", [[["bucket", bucket]]]));

  interface Run {
    readonly allowed: number;
    readonly expected: number;
    /** (first response − first send) + (last response − last send): what the client cannot see. */
    readonly slackMs: number;
    readonly answeredBy: number[];
    readonly unexpected: number[];
  }

  /** One measured run on a fresh bucket. */
  async function runOnce(): Promise<Run> {
    const bucket = `one-${Math.random().toString(36).slice(2)}`;
    const allowedBy = processes.map(() => 0);
    const answeredBy = processes.map(() => 0);
    const unexpected: number[] = [];
    let firstResponseAt = Infinity;
    let lastSendAt = 0;
    let lastResponseAt = 0;

    const start = performance.now();
    const stream = async (index: number): Promise<void> => {
      const p = processes[index]!;
      for (let sentAt = start; sentAt - start < SEND_FOR_MS; sentAt = performance.now()) {
        lastSendAt = Math.max(lastSendAt, sentAt);
        const res = await hit(p, bucket);
        const now = performance.now();
        firstResponseAt = Math.min(firstResponseAt, now);
        lastResponseAt = Math.max(lastResponseAt, now);
        answeredBy[index]!++;
        if (res.overall_code === OK) allowedBy[index]!++;
        else if (res.overall_code !== OVER_LIMIT) unexpected.push(res.overall_code);
        await sleep(PAUSE_MS);
      }
    };
    await Promise.all(
      Array.from({ length: PROCESSES * STREAMS_PER_PROCESS }, (_, i) => stream(i % PROCESSES)),
    );
    const elapsedS = (lastResponseAt - start) / 1000;
    const allowed = allowedBy.reduce((a, b) => a + b, 0);
    const slackMs = firstResponseAt - start + (lastResponseAt - lastSendAt);
    reportTimings("global correctness", {
      allowed,
      expected: CAPACITY + RATE_PER_S * elapsedS,
      elapsedMs: elapsedS * 1000,
      firstRoundTripMs: firstResponseAt - start,
      lastRoundTripMs: lastResponseAt - lastSendAt,
      requests: answeredBy.reduce((a, b) => a + b, 0),
      allowedBy: allowedBy.join("/"),
      answeredBy: answeredBy.join("/"),
    });
    return { allowed, expected: CAPACITY + RATE_PER_S * elapsedS, slackMs, answeredBy, unexpected };
  }

  it(`allows C + r × elapsed (±1) in total from ${PROCESSES} processes`, async () => {
    // Warm up: connections, and the script loaded in Redis (the first call may need an EVAL).
    await Promise.all(processes.map((p, i) => hit(p, `warm-up-${i}`)));
    // A run whose ends the client could not see sharply is measured again (see the header).
    let run = await runOnce();
    for (
      let attempt = 1;
      attempt < MAX_RUNS && RATE_PER_S * (run.slackMs / 1000) > MAX_SLACK_TOKENS;
      attempt++
    ) {
      run = await runOnce();
    }

    expect(run.unexpected).toEqual([]);
    // Real contention: every process answered a share of the requests.
    for (const answered of run.answeredBy) expect(answered).toBeGreaterThanOrEqual(30);
    expect(Math.abs(run.allowed - run.expected)).toBeLessThanOrEqual(1);
    // Every decision came from Redis: none from a process's local store.
    for (const p of processes) {
      expect(await metric(p.httpUrl, "floodgate_fallback_decisions_total")).toBe(0);
      expect(await metric(p.httpUrl, "floodgate_decisions_total", { source: "local" })).toBe(0);
    }
  });
});
