/**
 * Runs the BucketStore contract against every store: the in-process LRU and Redis (the suite's
 * Redis, each test under its own key prefix, cleaned up by SCAN + UNLINK, never FLUSH).
 */
import type { Redis } from "ioredis";
import { afterAll, beforeAll, inject } from "vitest";
import { createMemoryStore } from "../../src/store/local/memory-store.js";
import { createRedisClient } from "../../src/store/redis/client.js";
import { waitUntilReady } from "../harness/redis-helpers.js";
import { createRedisStore } from "../../src/store/redis/redis-store.js";
import { deleteByPrefix, uniquePrefix } from "../harness/redis-helpers.js";
import { bucketStoreContract } from "./bucket-store-suite.js";

bucketStoreContract("memory", () =>
  Promise.resolve({
    store: createMemoryStore({ maxBuckets: 10_000 }),
    source: "local" as const,
    dispose: () => Promise.resolve(),
  }),
);

// The production client settings: auto-pipelining, no offline queue, a per-command deadline.
let client: Redis;
beforeAll(async () => {
  client = createRedisClient(inject("redisUrl"), { timeoutMs: 2000 });
  await waitUntilReady(client, 5000);
});
afterAll(async () => {
  await client.quit();
});

bucketStoreContract("redis", () => {
  const keyPrefix = uniquePrefix("contract");
  const store = createRedisStore({ client, keyPrefix, closeClient: false });
  return Promise.resolve({
    store,
    source: "redis" as const,
    dispose: async () => {
      await store.close();
      await deleteByPrefix(client, keyPrefix);
    },
  });
});
