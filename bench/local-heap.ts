/**
 * Heap used per bucket by the in-process store (issue 3, item 5). Not a test: it measures and
 * prints. Run with `node --expose-gc` on the built code: `make bench`.
 */
import { createMemoryStore } from "../src/store/local/memory-store.js";
import { bucketKey } from "../src/store/keys.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc");

const count = Number(process.argv[2] ?? 1_000_000);
const spec = { capacity: 100, refillTokens: 100, refillPeriodUs: 60_000_000 };

async function main(): Promise<void> {
  const store = createMemoryStore({ maxBuckets: count });
  gc!();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < count; i++) {
    // Realistic keys: a user id and an endpoint, as CheckLimit's per-pair bucket.
    const key = bucketKey("fg:", "api", [
      { key: "user_id", value: `user-${i}` },
      { key: "endpoint", value: "/v1/orders" },
    ]);
    await store.evaluate([{ key, spec, cost: 1, shadow: false }]);
  }
  gc!();
  const after = process.memoryUsage().heapUsed;
  const perBucket = (after - before) / store.size();
  process.stdout.write(
    `${store.size()} buckets, heap +${((after - before) / 1048576).toFixed(1)} MiB, ${perBucket.toFixed(0)} bytes per bucket (key ~${
      bucketKey("fg:", "api", [
        { key: "user_id", value: "user-500000" },
        { key: "endpoint", value: "/v1/orders" },
      ]).length
    } chars)\n`,
  );
}

await main();
