/**
 * The one behaviour suite every BucketStore must pass (docs/architecture.md, "Testing"). Call it
 * with a factory; each test gets a fresh store and disposes of it. Specs refill slowly (per hour)
 * so that a store on real Redis time behaves, within a test's few milliseconds, like a frozen
 * clock.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BucketCheck, BucketId, BucketSpec } from "../../src/domain/bucket.js";
import { NEVER } from "../../src/domain/bucket.js";
import type { BucketStore } from "../../src/store/bucket-store.js";

export interface StoreUnderTest {
  readonly store: BucketStore;
  /** The decision source this store reports. */
  readonly source: "redis" | "local";
  dispose(): Promise<void>;
}

/** C tokens, refilled at C per hour: under 0.01 token during any one test. */
function hourly(capacity: number): BucketSpec {
  return { capacity, refillTokens: capacity, refillPeriodUs: 3600e6 };
}

/** The bucket of the suite's domain named by one entry `b=<name>`. */
function named(name: string): BucketId {
  return { domain: "contract", entries: [{ key: "b", value: name }] };
}

function check(bucket: string | BucketId, capacity: number, cost = 1, shadow = false): BucketCheck {
  return {
    bucket: typeof bucket === "string" ? named(bucket) : bucket,
    spec: hourly(capacity),
    cost,
    shadow,
  };
}

const ODD_VALUES = [
  "with space",
  "{braces}|pipe=equals",
  "ünïcødé ✓ 😀",
  "new\nline\ttab",
  "*?[glob]\\",
  "%25",
  "%L1/minute",
  "{".repeat(2000),
];

const user = { key: "user", value: "u" };
const op = { key: "op", value: "x" };
/** Identities that differ in one part each: every one must have a bucket of its own. */
const DISTINCT: readonly BucketId[] = [
  { domain: "d", entries: [user] },
  { domain: "d", entries: [user], descriptorLimit: { requestsPerUnit: 1, unit: "minute" } },
  { domain: "d", entries: [user], descriptorLimit: { requestsPerUnit: 1, unit: "second" } },
  { domain: "d", entries: [user], descriptorLimit: { requestsPerUnit: 2, unit: "minute" } },
  { domain: "d", entries: [] },
  { domain: "d2", entries: [user] },
  { domain: "d|user=u", entries: [] },
  { domain: "d", entries: [user, op] },
  { domain: "d", entries: [op, user] },
  { domain: "d", entries: [{ key: "user", value: "u|op=x" }] },
  { domain: "d", entries: [user, { key: "op", value: "x%L1/minute" }] },
  { domain: "d", entries: [{ key: "user", value: "u".repeat(100) }] },
  { domain: "d", entries: [{ key: "user", value: `${"u".repeat(99)}v` }] },
];

export function bucketStoreContract(name: string, create: () => Promise<StoreUnderTest>): void {
  describe(`BucketStore contract: ${name}`, () => {
    let subject: StoreUnderTest;
    let store: BucketStore;

    beforeEach(async () => {
      subject = await create();
      store = subject.store;
    });
    afterEach(() => subject.dispose());

    it("starts a new bucket full", async () => {
      expect(await store.peek(named("new"))).toBeUndefined();
      const decision = await store.evaluate([check("new", 5)]);
      expect(decision).toMatchObject({ allowed: true, source: subject.source });
      expect(decision.outcomes).toEqual([{ sufficient: true, remaining: 4, resetMs: 720_000, retryMs: 0 }]);
      const state = await store.peek(named("new"));
      expect(state!.tokens).toBeCloseTo(4, 2);
    });

    it("peeks a plain state stamped with the wall clock", async () => {
      const before = Date.now();
      await store.evaluate([check("clock", 5, 2)]);
      const after = Date.now();
      const state = await store.peek(named("clock"));
      expect(Object.keys(state!).sort()).toEqual(["tokens", "updatedAtMs"]);
      expect(state!.tokens).toBeCloseTo(3, 2);
      // Redis stamps with its own TIME: the same host's clock, within a second.
      expect(state!.updatedAtMs).toBeGreaterThan(before - 1000);
      expect(state!.updatedAtMs).toBeLessThan(after + 1000);
    });

    it("is all or nothing: a denied request leaves every bucket untouched", async () => {
      await store.evaluate([check("a", 5)]);
      await store.evaluate([check("b", 1)]);
      const before = [await store.peek(named("a")), await store.peek(named("b"))];
      const decision = await store.evaluate([check("a", 5), check("b", 1), check("fresh", 3)]);
      expect(decision.allowed).toBe(false);
      expect(decision.outcomes.map((o) => o.sufficient)).toEqual([true, false, true]);
      expect(decision.outcomes[0]!.remaining).toBe(4);
      expect([await store.peek(named("a")), await store.peek(named("b"))]).toEqual(before);
      expect(await store.peek(named("fresh"))).toBeUndefined();
    });

    it("checks without consuming at cost 0", async () => {
      const first = await store.evaluate([check("zero", 2, 0)]);
      expect(first.allowed).toBe(true);
      expect(first.outcomes[0]!.remaining).toBe(2);
      await store.evaluate([check("zero", 2, 2)]);
      const empty = await store.evaluate([check("zero", 2, 0)]);
      expect(empty.allowed).toBe(false);
      expect(empty.outcomes[0]!.retryMs).toBeGreaterThan(0);
    });

    it("never passes a cost above capacity", async () => {
      const decision = await store.evaluate([check("huge", 3, 4)]);
      expect(decision.allowed).toBe(false);
      expect(decision.outcomes[0]).toMatchObject({ sufficient: false, remaining: 3, retryMs: NEVER });
    });

    it("lets shadow buckets report but never deny", async () => {
      for (let i = 0; i < 3; i++) {
        const decision = await store.evaluate([check("enforced", 10), check("shadow", 1, 1, true)]);
        expect(decision.allowed).toBe(true);
        expect(decision.outcomes[1]!.sufficient).toBe(i === 0);
      }
      const enforced = await store.peek(named("enforced"));
      expect(Math.floor(enforced!.tokens)).toBe(7);
    });

    it("evaluates a repeated key against its running state", async () => {
      const denied = await store.evaluate([check("dup", 3, 2), check("dup", 3, 2)]);
      expect(denied.allowed).toBe(false);
      expect(await store.peek(named("dup"))).toBeUndefined();
      const allowed = await store.evaluate([check("dup", 3), check("dup", 3)]);
      expect(allowed.allowed).toBe(true);
      expect(allowed.outcomes.map((o) => o.remaining)).toEqual([1, 1]);
    });

    it("forgets a bucket on reset()", async () => {
      await store.evaluate([check("reset", 2, 2)]);
      expect((await store.evaluate([check("reset", 2)])).allowed).toBe(false);
      await store.evaluate([check("kept", 2, 2)]);
      await store.reset(named("reset"));
      expect(await store.peek(named("reset"))).toBeUndefined();
      expect(await store.peek(named("kept"))).toBeDefined();
      const again = await store.evaluate([check("reset", 2)]);
      expect(again.outcomes[0]!.remaining).toBe(1);
      await store.reset(named("never-seen"));
    });

    it("keeps values with odd characters apart", async () => {
      const first = await store.evaluate(ODD_VALUES.map((value) => check(value, 2)));
      expect(first.allowed).toBe(true);
      for (const value of ODD_VALUES) {
        const decision = await store.evaluate([check(value, 2)]);
        expect(decision.outcomes[0]!.remaining, JSON.stringify(value)).toBe(0);
        expect(Math.floor((await store.peek(named(value)))!.tokens)).toBe(0);
      }
    });

    it("counts each identity in a bucket of its own: domain, entries in order, descriptor limit", async () => {
      for (const bucket of DISTINCT) {
        const decision = await store.evaluate([check(bucket, 1)]);
        expect(decision.allowed, JSON.stringify(bucket)).toBe(true);
      }
      for (const bucket of DISTINCT) {
        expect((await store.peek(bucket))!.tokens, JSON.stringify(bucket)).toBeCloseTo(0, 2);
        expect((await store.evaluate([check(bucket, 1)])).allowed).toBe(false);
      }
      // A copy of an identity is the same bucket; resetting one forgets only that one.
      await store.reset({ ...DISTINCT[1]!, descriptorLimit: { requestsPerUnit: 1, unit: "minute" } });
      expect(await store.peek(DISTINCT[1]!)).toBeUndefined();
      expect(await store.peek(DISTINCT[0]!)).toBeDefined();
    });

    it("evaluates many keys in one call", async () => {
      const names = Array.from({ length: 300 }, (_, i) => `many:${i}`);
      const denied = await store.evaluate([
        ...names.map((name) => check(name, 2)),
        check("many:short", 1, 2),
      ]);
      expect(denied.allowed).toBe(false);
      expect(denied.outcomes).toHaveLength(301);
      expect(await store.peek(named("many:0"))).toBeUndefined();
      expect(await store.peek(named("many:299"))).toBeUndefined();
      const allowed = await store.evaluate(names.map((name) => check(name, 2)));
      expect(allowed.allowed).toBe(true);
      expect(allowed.outcomes.every((o) => o.remaining === 1)).toBe(true);
    });

    it("never over-allows under concurrent calls", async () => {
      const results = await Promise.all(Array.from({ length: 40 }, () => store.evaluate([check("hot", 10)])));
      expect(results.filter((d) => d.allowed)).toHaveLength(10);
      const pairs = await Promise.all(
        Array.from({ length: 30 }, () => store.evaluate([check("pair:a", 10), check("pair:b", 4)])),
      );
      expect(pairs.filter((d) => d.allowed)).toHaveLength(4);
      expect(Math.floor((await store.peek(named("pair:a")))!.tokens)).toBe(6);
    });

    it("allows an empty request", async () => {
      expect(await store.evaluate([])).toMatchObject({ allowed: true, outcomes: [] });
    });
  });
}
