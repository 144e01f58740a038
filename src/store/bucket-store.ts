import type { BucketCheck, BucketDecision, BucketState } from "../domain/bucket.js";

/** Where a decision came from; a bounded label value for metrics. */
export type DecisionSource = "redis" | "local" | "local_cache";

export interface StoreDecision extends BucketDecision {
  readonly source: DecisionSource;
}

/**
 * The one interface every store implements (the contract suite runs against each).
 * evaluate() is atomic over all checks: all-or-nothing, one round trip where the store allows it.
 */
export interface BucketStore {
  readonly kind: "redis" | "memory";
  evaluate(checks: readonly BucketCheck[]): Promise<StoreDecision>;
  /** The state as last written (no refill applied), for operators and tests. */
  peek(key: string): Promise<BucketState | undefined>;
  /** Forget a bucket; the next evaluation starts full. */
  reset(key: string): Promise<void>;
  close(): Promise<void>;
}
