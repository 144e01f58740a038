import { describe, expect, it } from "vitest";
import type { BucketCheck, BucketId, KeyedCheck } from "../../src/domain/bucket.js";
import { NEVER } from "../../src/domain/bucket.js";
import type { StoreDecision } from "../../src/store/bucket-store.js";
import type { KeyedBucketStore } from "../../src/store/keyed-store.js";
import { bucketKey } from "../../src/store/keys.js";
import { withOverLimitCache } from "../../src/store/over-limit-cache.js";

const spec = { capacity: 5, refillTokens: 1, refillPeriodUs: 1_000_000 };
const bucket = (user: string): BucketId => ({ domain: "olc", entries: [{ key: "user", value: user }] });
const check = (user: string, cost = 1, s = spec): BucketCheck => ({
  bucket: bucket(user),
  spec: s,
  cost,
  shadow: false,
});

/**
 * Counts calls, records the keyed checks it is handed and answers what the test queues, standing
 * in for Redis in this unit test. The cache must hand its keys inward, never the bare identities.
 */
function scripted(answers: StoreDecision[]) {
  const asked: (readonly KeyedCheck[])[] = [];
  const store: KeyedBucketStore = {
    evaluate: () => Promise.reject(new Error("the cache must pass its keyed checks to evaluateKeyed")),
    evaluateKeyed: (checks) => {
      asked.push(checks);
      return Promise.resolve(answers.shift() ?? { allowed: true, outcomes: [], source: "redis" });
    },
    peek: () => Promise.resolve(undefined),
    reset: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  return { store, asked, calls: () => asked.length };
}

const denied = (retryMs: number): StoreDecision => ({
  allowed: false,
  outcomes: [
    { sufficient: true, remaining: 3, resetMs: 2000, retryMs: 0 },
    { sufficient: false, remaining: 0, resetMs: 5000, retryMs },
  ],
  source: "redis",
});

describe("over-limit cache", () => {
  it("hands the inner store each check keyed as keys.ts keys it, without a prefix", async () => {
    const inner = scripted([]);
    const store = withOverLimitCache(inner.store, { maxEntries: 10, clock: () => 0 });
    const perMinute: BucketCheck = {
      ...check("b", 0),
      bucket: { ...bucket("b"), descriptorLimit: { requestsPerUnit: 5, unit: "minute" } },
      shadow: true,
    };
    await store.evaluate([check("a", 2), perMinute]);
    expect(inner.asked).toEqual([
      [
        { key: bucketKey(bucket("a")), spec, cost: 2, shadow: false },
        { key: bucketKey(perMinute.bucket), spec, cost: 0, shadow: true },
      ],
    ]);
    expect(inner.asked[0]!.map((c) => c.key)).toEqual(["{olc|user=a}", "{olc|user=b}%L5/minute"]);
  });

  it("denies repeats locally until the bucket could pass again", async () => {
    let now = 0;
    const inner = scripted([denied(1000)]);
    const store = withOverLimitCache(inner.store, { maxEntries: 10, clock: () => now });
    await store.evaluate([check("ok"), check("hot")]);
    now = 400;
    const hit = await store.evaluate([check("ok"), check("hot")]);
    expect(hit).toEqual({
      allowed: false,
      outcomes: [
        { sufficient: true, remaining: 0, resetMs: 0, retryMs: 0 },
        { sufficient: false, remaining: 0, resetMs: 4600, retryMs: 600 },
      ],
      source: "local_cache",
    });
    expect(inner.calls()).toBe(1);
    now = 1000;
    await store.evaluate([check("hot")]);
    expect(inner.calls()).toBe(2);
  });

  it("never denies a cheaper request, a changed limit, or a shadow check from the cache", async () => {
    const inner = scripted([denied(1000)]);
    const store = withOverLimitCache(inner.store, { maxEntries: 10, clock: () => 0 });
    await store.evaluate([check("ok"), check("hot", 3)]);
    await store.evaluate([check("hot", 2)]);
    await store.evaluate([check("hot", 3, { ...spec, capacity: 50 })]);
    await store.evaluate([{ ...check("hot", 3), shadow: true }]);
    expect(inner.calls()).toBe(4);
    expect((await store.evaluate([check("hot", 4)])).source).toBe("local_cache");
  });

  it("treats a cost of 0 as needing 1 token, as the bucket math does", async () => {
    const inner = scripted([denied(1000), denied(1000)]);
    const store = withOverLimitCache(inner.store, { maxEntries: 10, clock: () => 0 });
    await store.evaluate([check("ok"), check("hot", 0)]);
    expect((await store.evaluate([check("hot", 1)])).source).toBe("local_cache");
    await store.evaluate([check("ok"), check("cold", 1)]);
    expect((await store.evaluate([check("cold", 0)])).source).toBe("local_cache");
    expect(inner.calls()).toBe(2);
  });

  it("trusts a can-never-pass denial only briefly", async () => {
    let now = 0;
    const inner = scripted([denied(NEVER)]);
    const store = withOverLimitCache(inner.store, { maxEntries: 10, clock: () => now });
    await store.evaluate([check("ok"), check("hot", 9)]);
    expect((await store.evaluate([check("hot", 9)])).outcomes[0]!.retryMs).toBe(NEVER);
    now = 1000;
    await store.evaluate([check("hot", 9)]);
    expect(inner.calls()).toBe(2);
  });

  it("forgets a bucket's denial when the bucket is reset", async () => {
    const inner = scripted([denied(1000)]);
    const store = withOverLimitCache(inner.store, { maxEntries: 10, clock: () => 0 });
    await store.evaluate([check("ok"), check("hot")]);
    expect((await store.evaluate([check("hot")])).source).toBe("local_cache");
    await store.reset(bucket("ok"));
    expect((await store.evaluate([check("hot")])).source).toBe("local_cache");
    await store.reset(bucket("hot"));
    expect((await store.evaluate([check("hot")])).source).toBe("redis");
    expect(inner.calls()).toBe(2);
  });

  it("tells apart buckets that differ only by a descriptor limit", async () => {
    const inner = scripted([denied(1000)]);
    const store = withOverLimitCache(inner.store, { maxEntries: 10, clock: () => 0 });
    await store.evaluate([check("ok"), check("hot")]);
    const perMinute: BucketCheck = {
      ...check("hot"),
      bucket: { ...bucket("hot"), descriptorLimit: { requestsPerUnit: 5, unit: "minute" } },
    };
    expect((await store.evaluate([perMinute])).source).toBe("redis");
    expect(inner.calls()).toBe(2);
  });

  it("remembers only Redis denials, and is off with size 0", async () => {
    const local = scripted([{ ...denied(1000), source: "local" }]);
    const store = withOverLimitCache(local.store, { maxEntries: 10, clock: () => 0 });
    await store.evaluate([check("ok"), check("hot")]);
    await store.evaluate([check("hot")]);
    expect(local.calls()).toBe(2);
    const inner = scripted([]);
    expect(withOverLimitCache(inner.store, { maxEntries: 0 })).toBe(inner.store);
  });
});
