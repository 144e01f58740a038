/**
 * The in-process BucketStore: the fallback while Redis is unreachable, and the whole store when
 * no REDIS_URL is set. Bounded by an LRU (an evicted bucket comes back full, the price of a
 * bound), timed by the process's monotonic clock. Evaluation is synchronous, so it is atomic
 * with respect to every other call on the event loop. Its keys are keys.ts's without a prefix: the
 * map is this process's alone. evaluateKeyed() takes them already built (keyed-store.ts).
 */
import { performance } from "node:perf_hooks";
import { LRUCache } from "lru-cache";
import type { BucketState, KeyedCheck } from "../../domain/bucket.js";
import { evaluateBuckets } from "../../domain/token-bucket.js";
import type { StoreDecision } from "../bucket-store.js";
import type { KeyedBucketStore } from "../keyed-store.js";
import { bucketKey, keyedChecks } from "../keys.js";

export interface MemoryStoreOptions {
  /** The LRU bound (LOCAL_MAX_BUCKETS). */
  readonly maxBuckets: number;
  /**
   * Monotonic microseconds. Default: performance.now() × 1000. Tests inject their own. peek() reads
   * it as microseconds since performance.timeOrigin to give a wall-clock time.
   */
  readonly clock?: () => number;
  /** Called for each bucket the bound evicts (floodgate_local_evictions_total). */
  readonly onEvict?: () => void;
}

export interface MemoryStore extends KeyedBucketStore {
  /** Buckets held now (floodgate_local_buckets). */
  size(): number;
}

function monotonicUs(): number {
  return performance.now() * 1000;
}

/** The decision `decide` returns, or its throw as a rejection. */
function settled(decide: () => StoreDecision): Promise<StoreDecision> {
  try {
    return Promise.resolve(decide());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

export function createMemoryStore(options: MemoryStoreOptions): MemoryStore {
  const clock = options.clock ?? monotonicUs;
  const onEvict = options.onEvict;
  const buckets = new LRUCache<string, BucketState>({
    max: options.maxBuckets,
    ...(onEvict === undefined
      ? {}
      : {
          dispose: (_value: BucketState, _key: string, reason: LRUCache.DisposeReason) => {
            if (reason === "evict") onEvict();
          },
        }),
  });

  function evaluateNow(checks: readonly KeyedCheck[]): StoreDecision {
    const states = checks.map((check) => buckets.get(check.key));
    const { decision, next } = evaluateBuckets({ states, checks, nowUs: clock() });
    // A denied request took nothing: leaving the stored states alone is equivalent and cheaper.
    if (decision.allowed) next.forEach((state, i) => buckets.set(checks[i]!.key, state));
    return { allowed: decision.allowed, outcomes: decision.outcomes, source: "local" };
  }

  return {
    // Keys are built inside the try too: whatever throws becomes a rejection, as from any store.
    evaluate: (checks) => settled(() => evaluateNow(keyedChecks(checks, ""))),
    evaluateKeyed: (checks) => settled(() => evaluateNow(checks)),
    peek(bucket) {
      const state = buckets.peek(bucketKey(bucket));
      if (state === undefined) return Promise.resolve(undefined);
      const updatedAtMs = performance.timeOrigin + state.updatedAtUs / 1000;
      return Promise.resolve({ tokens: state.tokens, updatedAtMs });
    },
    reset(bucket) {
      buckets.delete(bucketKey(bucket));
      return Promise.resolve();
    },
    close() {
      buckets.clear();
      return Promise.resolve();
    },
    size() {
      return buckets.size;
    },
  } satisfies MemoryStore;
}
