import { describe, expect, it } from "vitest";
import type { BucketCheck, BucketId } from "../../src/domain/bucket.js";
import type { BucketStore } from "../../src/store/bucket-store.js";
import type { FallbackEvents } from "../../src/store/fallback-store.js";
import { createFallbackStore } from "../../src/store/fallback-store.js";
import { bucketKey } from "../../src/store/keys.js";
import { createMemoryStore } from "../../src/store/local/memory-store.js";
import { withOverLimitCache } from "../../src/store/over-limit-cache.js";
import type { RedisStoreClient } from "../../src/store/redis/redis-store.js";
import { createRedisStore } from "../../src/store/redis/redis-store.js";

// The store stack of store-factory.ts on the Redis path: over-limit cache → fallback → Redis, with
// the memory store behind the fallback. A key costs escaping, a join and sometimes a SHA-256, and
// every decision passes here: each check's key is built once per evaluate, not once per layer.

const spec = { capacity: 10, refillTokens: 10, refillPeriodUs: 60_000_000 };

/** A bucket identity that counts reads of its domain: how a test sees keys being built from it. */
function countedBucket(user: string) {
  let reads = 0;
  const bucket: BucketId = {
    get domain() {
      reads++;
      return "ko";
    },
    entries: [{ key: "user", value: user }],
  };
  return { bucket, reads: () => reads };
}

/** Checks on counted buckets, and how many keys have been built from them so far. */
function countedChecks(users: readonly string[]) {
  const buckets = users.map(countedBucket);
  // Calibrate: however many reads one bucketKey() call makes, count builds in those units.
  const before = buckets[0]!.reads();
  bucketKey(buckets[0]!.bucket);
  const readsPerBuild = buckets[0]!.reads() - before;
  const checks: BucketCheck[] = buckets.map(({ bucket }) => ({ bucket, spec, cost: 1, shadow: false }));
  const start = buckets.map((b) => b.reads());
  const builds = () => buckets.map((b, i) => (b.reads() - start[i]!) / readsPerBuild);
  return { checks, builds };
}

/**
 * Stands in for ioredis: records the keys of each script call and allows every check (the reply
 * layout of token-bucket.lua), or fails like a timed-out command.
 */
function fakeRedis(options: { isCluster: boolean }) {
  const calls: string[][] = [];
  let down = false;
  const evalsha = (_sha: string, numKeys: number, ...args: (string | number)[]) => {
    calls.push(args.slice(0, numKeys).map(String));
    if (down) return Promise.reject(new Error("Command timed out"));
    const reply = [1];
    for (let i = 0; i < numKeys; i++) reply.push(1, 9, 6000, 0);
    return Promise.resolve(reply);
  };
  const client = {
    isCluster: options.isCluster,
    evalsha,
    eval: () => Promise.reject(new Error("unexpected EVAL")),
    hmget: () => Promise.resolve([null, null]),
    del: () => Promise.resolve(0),
    quit: () => Promise.resolve("OK"),
    disconnect: () => undefined,
  } as unknown as RedisStoreClient;
  return { client, calls, setDown: (value: boolean) => (down = value) };
}

const quiet: FallbackEvents = {
  onEnter: () => undefined,
  onExit: () => undefined,
  onFallbackDecision: () => undefined,
  onRedisError: () => undefined,
  onRedisCall: () => undefined,
};

function redisStack(
  keyPrefix: string,
  isCluster = false,
): { store: BucketStore } & ReturnType<typeof fakeRedis> {
  const redis = fakeRedis({ isCluster });
  const fallback = createFallbackStore({
    primary: createRedisStore({ client: redis.client, keyPrefix, closeClient: false }),
    local: createMemoryStore({ maxBuckets: 100, clock: () => 0 }),
    divisor: 1,
    failures: 3,
    cooldownMs: 60_000,
    maxCooldownMs: 60_000,
    events: quiet,
  });
  return { store: withOverLimitCache(fallback, { maxEntries: 100 }), ...redis };
}

describe("the store stack builds each check's key once per evaluate", () => {
  it("on the Redis path, and Redis gets the key under its prefix", async () => {
    const { store, calls } = redisStack("fg:");
    const { checks, builds } = countedChecks(["a", "b"]);
    const decision = await store.evaluate(checks);
    expect(decision).toMatchObject({ allowed: true, source: "redis" });
    expect(builds()).toEqual([1, 1]);
    expect(calls).toEqual([["fg:{ko|user=a}", "fg:{ko|user=b}"]]);
  });

  it("when Redis fails and the memory store decides", async () => {
    const { store, calls, setDown } = redisStack("fg:");
    setDown(true);
    const { checks, builds } = countedChecks(["a", "b"]);
    const decision = await store.evaluate(checks);
    expect(decision).toMatchObject({ allowed: true, source: "local" });
    expect(calls).toHaveLength(1);
    expect(builds()).toEqual([1, 1]);
  });

  it("on Redis Cluster, grouping slots on the full key (a prefix may hold the hash tag)", async () => {
    const tagged = redisStack("fg:{one}:", true);
    const { checks, builds } = countedChecks(["a", "b"]);
    await tagged.store.evaluate(checks);
    expect(builds()).toEqual([1, 1]);
    expect(tagged.calls).toEqual([["fg:{one}:{ko|user=a}", "fg:{one}:{ko|user=b}"]]);
    // Without a tag in the prefix, the two users' tags differ: two slots, two script calls.
    const plain = redisStack("fg:", true);
    await plain.store.evaluate(countedChecks(["a", "b"]).checks);
    expect(plain.calls.flat().sort()).toEqual(["fg:{ko|user=a}", "fg:{ko|user=b}"]);
    expect(plain.calls).toHaveLength(2);
  });
});
