/**
 * Heap used per bucket by the in-process store (README, "Sizing"; docs/security.md, threat 7 for
 * the hostile keys). Not a test: it measures and prints. Run with `node --expose-gc` on the built code:
 * `make bench`. Arguments: the bucket count, then `hostile` for 1 KB values made of `{` (which
 * escaping triples) instead of realistic ones.
 */
import type { BucketId } from "../src/domain/bucket.js";
import { bucketKey } from "../src/store/keys.js";
import { createMemoryStore } from "../src/store/local/memory-store.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc");

const count = Number(process.argv[2] ?? 1_000_000);
const hostile = process.argv[3] === "hostile";
const spec = { capacity: 100, refillTokens: 100, refillPeriodUs: 60_000_000 };

/** CheckLimit's per-pair bucket: a user id and an endpoint. */
function bucketOf(i: number): BucketId {
  const user = hostile ? `${i}`.padStart(1024, "{") : `user-${i}`;
  const endpoint = hostile ? "{".repeat(1024) : "/v1/orders";
  return {
    domain: "api",
    entries: [
      { key: "user_id", value: user },
      { key: "endpoint", value: endpoint },
    ],
  };
}

async function main(): Promise<void> {
  const store = createMemoryStore({ maxBuckets: count });
  gc!();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < count; i++)
    await store.evaluate([{ bucket: bucketOf(i), spec, cost: 1, shadow: false }]);
  gc!();
  const after = process.memoryUsage().heapUsed;
  const perBucket = (after - before) / store.size();
  const values = hostile ? "1 KB hostile values" : "realistic values";
  // The store's key for it (the in-process store uses no prefix).
  const keyBytes = Buffer.byteLength(bucketKey(bucketOf(count / 2)));
  process.stdout.write(
    `${store.size()} buckets, ${values}: heap +${((after - before) / 1048576).toFixed(1)} MiB, ${perBucket.toFixed(0)} bytes per bucket (key ${keyBytes} bytes)\n`,
  );
}

await main();
