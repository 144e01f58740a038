import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { BucketSpec, BucketState, KeyedCheck } from "../../src/domain/bucket.js";
import { NEVER } from "../../src/domain/bucket.js";
import { evaluateBuckets, refilledTokens } from "../../src/domain/token-bucket.js";
import { createMemoryStore } from "../../src/store/local/memory-store.js";
import { BUCKET_VECTORS, VECTOR_EPOCH_US } from "../fixtures/bucket-vectors.js";
import { stepNowUs, toStoreChecks, TsBuckets } from "../fixtures/run-vectors.js";

describe("bucket vectors against evaluateBuckets", () => {
  for (const vector of BUCKET_VECTORS) {
    it(vector.name, () => {
      const buckets = new TsBuckets();
      vector.steps.forEach((step, i) => {
        expect(buckets.runStep(step), `step ${i} at ${step.atMs} ms`).toEqual(step.expect);
      });
    });
  }
});

describe("bucket vectors against the memory store (injected clock)", () => {
  for (const vector of BUCKET_VECTORS) {
    it(vector.name, async () => {
      let nowUs = 0;
      const store = createMemoryStore({ maxBuckets: 100, clock: () => nowUs });
      for (const [i, step] of vector.steps.entries()) {
        nowUs = stepNowUs(step);
        const { allowed, outcomes, source } = await store.evaluate(toStoreChecks(step.checks));
        expect(source).toBe("local");
        expect({ allowed, outcomes }, `step ${i} at ${step.atMs} ms`).toEqual(step.expect);
      }
    });
  }
});

describe("evaluateBuckets edge cases", () => {
  it("allows an empty request", () => {
    const { decision, next } = evaluateBuckets({ states: [], checks: [], nowUs: 0 });
    expect(decision).toEqual({ allowed: true, outcomes: [] });
    expect(next).toEqual([]);
  });

  it("gives duplicate keys one shared state object", () => {
    const spec = { capacity: 3, refillTokens: 1, refillPeriodUs: 1e6 };
    const check: KeyedCheck = { key: "k", spec, cost: 1, shadow: false };
    const { next } = evaluateBuckets({ states: [undefined, undefined], checks: [check, check], nowUs: 5 });
    expect(next[0]).toBe(next[1]);
    expect(next[0]).toEqual({ tokens: 1, updatedAtUs: 5 });
  });
});

const PERIODS_S = [1, 60, 3600, 86_400];
const specArb: fc.Arbitrary<BucketSpec> = fc.record({
  capacity: fc.integer({ min: 1, max: 50 }),
  refillTokens: fc.integer({ min: 1, max: 50 }),
  refillPeriodUs: fc.constantFrom(...PERIODS_S).map((s) => s * 1e6),
});
const stepsArb = (minDtUs: number) =>
  fc.array(
    fc.record({ dtUs: fc.integer({ min: minDtUs, max: 3e6 }), cost: fc.integer({ min: 0, max: 55 }) }),
    {
      maxLength: 60,
    },
  );

/**
 * Runs one bucket through `steps`, checking each step. The bound's elapsed time is the span of
 * clock readings seen (earliest to latest), which is what a clock that jumps back allows.
 */
function runOneBucket(spec: BucketSpec, steps: readonly { dtUs: number; cost: number }[]) {
  let nowUs = VECTOR_EPOCH_US;
  let earliestUs = Infinity;
  let latestUs = -Infinity;
  let state: BucketState | undefined;
  let taken = 0;
  for (const { dtUs, cost } of steps) {
    nowUs += dtUs;
    earliestUs = Math.min(earliestUs, nowUs);
    latestUs = Math.max(latestUs, nowUs);
    const checks = [{ key: "p", spec, cost, shadow: false }];
    const { decision, next } = evaluateBuckets({ states: [state], checks, nowUs });
    const refilled = refilledTokens(state, spec, nowUs);
    if (decision.allowed) {
      expect(next[0]!.tokens).toBe(refilled - cost);
      taken += cost;
      state = next[0];
    } else {
      // A denied step takes nothing (and the stores write nothing).
      expect(next[0]!.tokens).toBe(refilled);
      expect(decision.outcomes[0]!.retryMs === NEVER).toBe(cost > spec.capacity);
    }
    const elapsedUs = latestUs - earliestUs;
    const bound = spec.capacity + (elapsedUs * spec.refillTokens) / spec.refillPeriodUs;
    expect(taken).toBeLessThanOrEqual(bound + 1e-6);
  }
}

describe("token bucket properties", () => {
  it("never allows more than C + r × elapsed, and a denied step takes nothing", () => {
    fc.assert(fc.property(specArb, stepsArb(0), (spec, steps) => runOneBucket(spec, steps)));
  });

  it("keeps that bound when the clock moves backwards", () => {
    fc.assert(fc.property(specArb, stepsArb(-2e6), (spec, steps) => runOneBucket(spec, steps)));
  });

  const stateArb = fc.option(
    fc.record({
      tokens: fc.double({ min: 0, max: 60, noNaN: true }),
      ageUs: fc.integer({ min: -1e6, max: 1e8 }),
    }),
    { nil: undefined },
  );
  const checkArb = fc.record({
    spec: specArb,
    cost: fc.integer({ min: 0, max: 55 }),
    shadow: fc.boolean(),
    state: stateArb,
  });

  it("is all or nothing over distinct buckets", () => {
    fc.assert(
      fc.property(fc.array(checkArb, { minLength: 1, maxLength: 5 }), (drawn) => {
        const nowUs = VECTOR_EPOCH_US;
        const checks = drawn.map((d, i) => ({ key: `k${i}`, spec: d.spec, cost: d.cost, shadow: d.shadow }));
        const states = drawn.map((d) =>
          d.state === undefined ? undefined : { tokens: d.state.tokens, updatedAtUs: nowUs - d.state.ageUs },
        );
        const { decision, next } = evaluateBuckets({ states, checks, nowUs });
        const enforcedOk = decision.outcomes.every((o, i) => o.sufficient || checks[i]!.shadow);
        expect(decision.allowed).toBe(enforcedOk);
        decision.outcomes.forEach((outcome, i) => {
          const refilled = refilledTokens(states[i], checks[i]!.spec, nowUs);
          const took = decision.allowed && outcome.sufficient ? checks[i]!.cost : 0;
          expect(next[i]!.tokens).toBe(refilled - took);
          expect(outcome.remaining).toBe(Math.floor(next[i]!.tokens));
          expect(outcome.retryMs === 0).toBe(outcome.sufficient);
          expect(outcome.resetMs).toBeGreaterThanOrEqual(0);
        });
      }),
    );
  });
});
