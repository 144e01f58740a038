import type { KeyedCheck } from "../domain/bucket.js";
import type { BucketStore, StoreDecision } from "./bucket-store.js";

/**
 * What the stores inside store/ implement on top of BucketStore: evaluation of checks whose keys
 * are already built. Every decision passes through several stores (over-limit cache, fallback,
 * Redis, memory), and a key costs escaping, a join and sometimes a SHA-256, so the outermost store
 * builds each check's key once (keys.ts) and hands the keyed checks inward.
 *
 * The keys are keys.ts's without any prefix: the in-process stores use them as they are, and the
 * Redis store puts its own prefix in front (bucketKey(bucket, prefix) is exactly
 * prefix + bucketKey(bucket)). The layers above store/ know BucketStore alone
 * (test/unit/architecture.test.ts).
 */
export interface KeyedBucketStore extends BucketStore {
  /** evaluate() on checks keyed by keyedChecks(checks, ""), in the same order. */
  evaluateKeyed(checks: readonly KeyedCheck[]): Promise<StoreDecision>;
}
