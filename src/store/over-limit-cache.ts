import { LRUCache } from "lru-cache";
import type { BucketOutcome, BucketSpec, KeyedCheck } from "../domain/bucket.js";
import { NEVER, tokensNeeded } from "../domain/bucket.js";
import type { StoreDecision } from "./bucket-store.js";
import type { KeyedBucketStore } from "./keyed-store.js";
import { bucketKey, keyedChecks } from "./keys.js";

/**
 * The local over-limit cache (README, "Sizing"): a bucket that Redis has just denied is remembered until it
 * could hold enough tokens again, and repeat requests for it are denied here without a Redis call.
 * This is what keeps one abusive client from costing a Redis round trip per request.
 *
 * It never over-allows: an entry only ever denies, and only a request that needs at least as many
 * tokens as the denied one, on a bucket with the same spec (a reloaded limit bypasses old entries),
 * before the time Redis said the tokens would be there. Entries are keyed as the in-process store
 * keys its buckets (keys.ts, no prefix). As the outermost store it builds each check's key once per
 * evaluate() and hands the keyed checks to the inner store (keyed-store.ts).
 */
export interface OverLimitCacheOptions {
  readonly maxEntries: number;
  /** Monotonic milliseconds, injected for tests. */
  readonly clock?: () => number;
}

interface Denial {
  /** Monotonic ms when the bucket could hold `need` tokens again. */
  readonly until: number;
  /** Monotonic ms when the bucket would be full again. */
  readonly fullAt: number;
  readonly need: number;
  readonly spec: BucketSpec;
  readonly never: boolean;
}

/** How long a "can never pass" (cost above capacity) denial is trusted: limits may be reloaded. */
const NEVER_TTL_MS = 1000;

const UNKNOWN: BucketOutcome = { sufficient: true, remaining: 0, resetMs: 0, retryMs: 0 };

function sameSpec(a: BucketSpec, b: BucketSpec): boolean {
  return (
    a.capacity === b.capacity && a.refillTokens === b.refillTokens && a.refillPeriodUs === b.refillPeriodUs
  );
}

export function withOverLimitCache(
  inner: KeyedBucketStore,
  options: OverLimitCacheOptions,
): KeyedBucketStore {
  if (options.maxEntries === 0) return inner;
  const clock = options.clock ?? (() => performance.now());
  const denials = new LRUCache<string, Denial>({ max: options.maxEntries });

  function cached(check: KeyedCheck, now: number): Denial | undefined {
    if (check.shadow) return undefined;
    const denial = denials.get(check.key);
    if (denial === undefined || denial.until <= now) return undefined;
    return tokensNeeded(check.cost) >= denial.need && sameSpec(denial.spec, check.spec) ? denial : undefined;
  }

  /** Denied from memory. Buckets not in the cache were not consulted: they report nothing left. */
  function fromCache(checks: readonly KeyedCheck[], now: number): StoreDecision | undefined {
    // The common case is a miss: find out before building any outcome.
    if (!checks.some((check) => cached(check, now) !== undefined)) return undefined;
    const outcomes = checks.map((check): BucketOutcome => {
      const denial = cached(check, now);
      if (denial === undefined) return UNKNOWN;
      const retryMs = denial.never ? NEVER : Math.ceil(denial.until - now);
      return {
        sufficient: false,
        remaining: 0,
        resetMs: Math.max(0, Math.ceil(denial.fullAt - now)),
        retryMs,
      };
    });
    return { allowed: false, outcomes, source: "local_cache" };
  }

  function remember(checks: readonly KeyedCheck[], decision: StoreDecision, now: number): void {
    decision.outcomes.forEach((outcome, i) => {
      const check = checks[i]!;
      if (outcome.sufficient || check.shadow) return;
      const never = outcome.retryMs === NEVER;
      const until = now + (never ? NEVER_TTL_MS : outcome.retryMs);
      denials.set(check.key, {
        until,
        fullAt: now + outcome.resetMs,
        need: tokensNeeded(check.cost),
        spec: check.spec,
        never,
      });
    });
  }

  function evaluateKeyed(checks: readonly KeyedCheck[]): Promise<StoreDecision> {
    const now = clock();
    const hit = fromCache(checks, now);
    if (hit !== undefined) return Promise.resolve(hit);
    // A promise chain, not an async function: one promise less on every decision.
    return inner.evaluateKeyed(checks).then((decision) => {
      if (!decision.allowed && decision.source === "redis") remember(checks, decision, now);
      return decision;
    });
  }

  return {
    evaluate: (checks) => evaluateKeyed(keyedChecks(checks, "")),
    evaluateKeyed,
    peek: (bucket) => inner.peek(bucket),
    reset(bucket) {
      denials.delete(bucketKey(bucket));
      return inner.reset(bucket);
    },
    close: () => inner.close(),
  };
}
