import type { DescriptorEntry } from "./rules.js";
import type { Unit } from "./units.js";

/**
 * Token-bucket vocabulary shared by the pure math, the Lua script and the stores (README, "Token bucket semantics").
 * Rates are kept as a fraction (tokens per period) so that refill = elapsed × tokens / period
 * is exact for the usual values in both TypeScript and Lua doubles.
 */
export interface BucketSpec {
  /** C: the most tokens the bucket holds; a new bucket starts full. Integer ≥ 1. */
  readonly capacity: number;
  /** Tokens added per refill period (requests_per_unit). Integer ≥ 1. */
  readonly refillTokens: number;
  /** The refill period in microseconds (unit seconds × 1e6). */
  readonly refillPeriodUs: number;
}

/**
 * Which bucket: the domain and the descriptor entries it is counted by, never the limit, so that
 * a changed limit keeps its bucket. The one exception is Envoy's descriptor `limit`: when it
 * decides the limit, its rate and unit name a bucket of their own (docs/security.md, "Who may call
 * what"). Each store turns an identity into its own key (src/store/keys.ts).
 */
export interface BucketId {
  readonly domain: string;
  readonly entries: readonly DescriptorEntry[];
  /** Set only when Envoy's descriptor `limit` decided the limit. */
  readonly descriptorLimit?: { readonly requestsPerUnit: number; readonly unit: Unit } | undefined;
}

/** One bucket to evaluate as part of an all-or-nothing request: what a store is asked. */
export interface BucketCheck {
  readonly bucket: BucketId;
  readonly spec: BucketSpec;
  /** Tokens to take. 0 means check without consuming: it passes when at least 1 token is there. */
  readonly cost: number;
  /** A shadow bucket never denies; its shortfall is only reported. */
  readonly shadow: boolean;
}

/**
 * Tokens a check must find: cost 0 is "check without consuming" and needs one. The one rule for
 * the math (token-bucket.ts) and the over-limit cache; token-bucket.lua repeats it in Lua.
 */
export function tokensNeeded(cost: number): number {
  return cost === 0 ? 1 : cost;
}

/** A check on the store's key for its bucket: what the token-bucket math and the Lua script see. */
export interface KeyedCheck extends Omit<BucketCheck, "bucket"> {
  readonly key: string;
}

/** Persisted bucket state: tokens at the time of the last evaluation (µs, on the store's clock). */
export interface BucketState {
  readonly tokens: number;
  readonly updatedAtUs: number;
}

/** Marks a retry that can never succeed (cost above capacity). */
export const NEVER = -1;

export interface BucketOutcome {
  /** The bucket alone had enough tokens for its cost (for a shadow bucket: would have). */
  readonly sufficient: boolean;
  /** floor(tokens) after the whole decision (nothing is taken when the request is denied). */
  readonly remaining: number;
  /** Milliseconds until the bucket is full again, rounded up. */
  readonly resetMs: number;
  /** When not sufficient: milliseconds until the cost is available, rounded up, or NEVER. Else 0. */
  readonly retryMs: number;
}

export interface BucketDecision {
  /** True when every non-shadow bucket was sufficient; only then are tokens taken. */
  readonly allowed: boolean;
  /** One outcome per check, in order. */
  readonly outcomes: readonly BucketOutcome[];
}
