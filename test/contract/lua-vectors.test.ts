/**
 * The vector table against the Lua script on a real Redis, and against the TypeScript math at
 * the same time: decisions must match the table, and the stored state must be bit-identical to
 * the TypeScript reference after every step.
 *
 * `now` is injected through a test build of the script: the same body as production, with an
 * entry that reads `now` from the last ARGV instead of Redis TIME. One short test runs the
 * production script to show that it refills by Redis time.
 */
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { BucketCheck, BucketDecision, BucketState, KeyedCheck } from "../../src/domain/bucket.js";
import { buildScriptArgs, createRedisStore, parseReply } from "../../src/store/redis/redis-store.js";
import { TOKEN_BUCKET_BODY } from "../../src/store/redis/script.js";
import { BUCKET_VECTORS, VECTOR_EPOCH_US } from "../fixtures/bucket-vectors.js";
import { stepNowUs, toChecks, TsBuckets } from "../fixtures/run-vectors.js";
import { deleteByPrefix, uniquePrefix } from "../harness/redis-helpers.js";

const INJECTED_CLOCK_LUA = `${TOKEN_BUCKET_BODY}return evaluate(tonumber(ARGV[#ARGV]))\n`;

let client: Redis;
const prefix = uniquePrefix("lua");

beforeAll(() => {
  client = new Redis(inject("redisUrl"));
});

afterAll(async () => {
  await deleteByPrefix(client, prefix);
  await client.quit();
});

/** Evaluates at an injected `nowUs` through the test build of the script. */
async function luaEvaluate(checks: readonly KeyedCheck[], nowUs: number): Promise<BucketDecision> {
  const args = buildScriptArgs(checks);
  const reply = await client.eval(INJECTED_CLOCK_LUA, checks.length, ...args, String(nowUs));
  const { allowed, outcomes } = parseReply(reply, checks.length);
  return { allowed, outcomes };
}

async function luaState(key: string): Promise<BucketState | undefined> {
  const [tokens, updatedAtUs] = await client.hmget(key, "t", "u");
  if (tokens == null || updatedAtUs == null) return undefined;
  return { tokens: Number(tokens), updatedAtUs: Number(updatedAtUs) };
}

/** Same checks through Lua and TypeScript: identical decisions and bit-identical states. */
async function compareStep(
  ts: TsBuckets,
  checks: readonly KeyedCheck[],
  nowUs: number,
): Promise<BucketDecision> {
  const lua = await luaEvaluate(checks, nowUs);
  const reference = ts.evaluate(checks, nowUs);
  expect(lua).toEqual(reference);
  for (const key of new Set(checks.map((check) => check.key))) {
    expect(await luaState(key), `state of ${key}`).toEqual(ts.states.get(key));
  }
  return lua;
}

describe("bucket vectors against the Lua script (injected now)", () => {
  BUCKET_VECTORS.forEach((vector, v) => {
    it(vector.name, async () => {
      const ts = new TsBuckets();
      const keyOf = (bucket: string): string => `${prefix}v${v}:{${bucket}}`;
      for (const [i, step] of vector.steps.entries()) {
        const decision = await compareStep(ts, toChecks(step.checks, keyOf), stepNowUs(step));
        expect(decision, `step ${i} at ${step.atMs} ms`).toEqual(step.expect);
      }
    });
  });

  it("agrees with the TypeScript math on random requests, duplicate keys and limit changes included", async () => {
    const specArb = fc.record({
      capacity: fc.integer({ min: 1, max: 40 }),
      refillTokens: fc.integer({ min: 1, max: 40 }),
      refillPeriodUs: fc.oneof(fc.constantFrom(1e6, 7e6, 60e6, 3600e6), fc.integer({ min: 1000, max: 1e10 })),
    });
    const checkArb = fc.record({
      bucket: fc.constantFrom("a", "b", "c"),
      cost: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 45 })),
      shadow: fc.boolean(),
      // Now and then a check carries another limit for its bucket (a changed limit, or two
      // rules on one key), to compare the clamping too.
      otherSpec: fc.option(specArb, { nil: undefined, freq: 5 }),
    });
    // Mostly short steps, so that buckets are often part-full and rounding would show.
    const stepArb = fc.record({
      dtUs: fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: -500_000, max: 5_000_000 })),
      checks: fc.array(checkArb, { minLength: 1, maxLength: 4 }),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom("a", "b", "c"), specArb),
        fc.array(stepArb, { maxLength: 15 }),
        async (specs, steps) => {
          const ts = new TsBuckets();
          const keyOf = (bucket: string): string => `${prefix}rnd${run}:${bucket}`;
          run++;
          let nowUs = VECTOR_EPOCH_US;
          for (const step of steps) {
            nowUs += step.dtUs;
            const checks = step.checks.map((c) => ({
              key: keyOf(c.bucket),
              spec: c.otherSpec ?? specs[c.bucket] ?? { capacity: 5, refillTokens: 1, refillPeriodUs: 1e6 },
              cost: c.cost,
              shadow: c.shadow,
            }));
            await compareStep(ts, checks, nowUs);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("production script", () => {
  it("refills by Redis TIME", async () => {
    const store = createRedisStore({ client, keyPrefix: prefix, closeClient: false });
    // 10 tokens/s: one token per 100 ms.
    const check: BucketCheck = {
      bucket: { domain: "time", entries: [] },
      spec: { capacity: 10, refillTokens: 10, refillPeriodUs: 1e6 },
      cost: 10,
      shadow: false,
    };
    expect((await store.evaluate([check])).allowed).toBe(true);
    const denied = await store.evaluate([{ ...check, cost: 1 }]);
    expect(denied.allowed).toBe(false);
    expect(denied.outcomes[0]!.retryMs).toBeGreaterThan(0);
    expect(denied.outcomes[0]!.retryMs).toBeLessThanOrEqual(100);

    const [seconds, micros] = await client.time();
    const redisNowUs = Number(seconds) * 1e6 + Number(micros);
    const state = await store.peek(check.bucket);
    expect(Math.abs(state!.updatedAtMs * 1000 - redisNowUs)).toBeLessThan(1e6);

    await new Promise((resolve) => setTimeout(resolve, 250));
    const after = await store.evaluate([{ ...check, cost: 1 }]);
    expect(after.allowed).toBe(true);
    // About 2.5 tokens came back; one was taken.
    expect(after.outcomes[0]!.remaining).toBeGreaterThanOrEqual(1);
    expect(after.outcomes[0]!.remaining).toBeLessThanOrEqual(3);
    expect(await client.pttl(`${prefix}{time}`)).toBeGreaterThan(0);
  });
});
