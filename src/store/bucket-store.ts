import type { BucketCheck, BucketDecision, BucketId } from "../domain/bucket.js";

/** Where a decision came from; a bounded label value for metrics. */
export type DecisionSource = "redis" | "local" | "local_cache";

export interface StoreDecision extends BucketDecision {
  readonly source: DecisionSource;
}

/** A bucket as last written (no refill applied), for operators and tests. */
export interface BucketSnapshot {
  readonly tokens: number;
  /** When it was last written: Unix epoch milliseconds, whatever clock the store keeps. */
  readonly updatedAtMs: number;
}

/**
 * The one interface every store implements (the contract suite runs against each). Callers name
 * buckets by identity; the stores build the keys (keys.ts, once per evaluate however many stores
 * are stacked: keyed-store.ts) and each applies its own prefix.
 * evaluate() is atomic over all checks: all-or-nothing, one round trip where the store allows it.
 */
export interface BucketStore {
  evaluate(checks: readonly BucketCheck[]): Promise<StoreDecision>;
  peek(bucket: BucketId): Promise<BucketSnapshot | undefined>;
  /** Forget a bucket; the next evaluation starts full. */
  reset(bucket: BucketId): Promise<void>;
  close(): Promise<void>;
}
