/**
 * Token-bucket math (README, "Token bucket semantics"), pure: no I/O, no clock; `nowUs` is an argument.
 *
 * src/store/redis/token-bucket.lua implements exactly the same steps with the same floating-point
 * operations in the same order (multiply before divide), so both produce bit-identical doubles.
 * Change one and you must change the other; test/contract/lua-vectors.test.ts checks they agree.
 *
 * Evaluation of one request, all or nothing:
 * 1. Walk the checks in order against a running state per key. The first check of a key refills
 *    the stored state to `nowUs`; a later check of the same key (two descriptors mapping to one
 *    bucket) sees the tokens the earlier checks would take, clamped to its own capacity.
 *    Cost 0 needs 1 token and takes none; cost w needs and takes w. An insufficient shadow check
 *    takes nothing and does not deny.
 * 2. Allowed iff every non-shadow check was sufficient. Allowed: the running states become the
 *    new states. Denied: the refilled states with nothing taken.
 * 3. Outcomes describe each check's bucket after the decision.
 */
import type { BucketDecision, BucketOutcome, BucketSpec, BucketState, KeyedCheck } from "./bucket.js";
import { NEVER, tokensNeeded } from "./bucket.js";

/** Waits are clamped so they stay exact integers in a double (and in Redis's int64 replies). */
export const MAX_WAIT_MS = Number.MAX_SAFE_INTEGER;

export interface BucketEvaluationInput {
  /** Stored state of each check's bucket, aligned with `checks`; undefined = new (full) bucket. */
  readonly states: readonly (BucketState | undefined)[];
  readonly checks: readonly KeyedCheck[];
  readonly nowUs: number;
}

export interface BucketEvaluation {
  readonly decision: BucketDecision;
  /**
   * Each check's bucket after the decision, aligned with `checks` (duplicate keys share one
   * object). When denied, these are the refilled states with nothing taken; writing them is
   * optional, and the stores skip it (nothing was taken, so the stored state stays equivalent).
   */
  readonly next: readonly BucketState[];
}

/** Running state of one distinct key during an evaluation. */
interface Slot {
  /** Refilled tokens, nothing taken (the result when denied). */
  base: number;
  /** Refilled tokens minus what the sufficient checks so far would take. */
  run: number;
  readonly updatedAtUs: number;
}

/** Tokens in `state` refilled up to `nowUs`; a clock that moved backwards refills nothing. */
export function refilledTokens(state: BucketState | undefined, spec: BucketSpec, nowUs: number): number {
  if (state === undefined) return spec.capacity;
  const elapsedUs = nowUs > state.updatedAtUs ? nowUs - state.updatedAtUs : 0;
  return Math.min(spec.capacity, state.tokens + (elapsedUs * spec.refillTokens) / spec.refillPeriodUs);
}

/** Whole milliseconds (rounded up) until `tokens` more tokens have been refilled. */
export function msToRefill(tokens: number, spec: BucketSpec): number {
  return Math.min(MAX_WAIT_MS, Math.ceil((tokens * spec.refillPeriodUs) / spec.refillTokens / 1000));
}

function openSlot(state: BucketState | undefined, spec: BucketSpec, nowUs: number): Slot {
  const tokens = refilledTokens(state, spec, nowUs);
  // Never move updatedAt backwards: time already credited must not be credited twice.
  const updatedAtUs = state !== undefined && state.updatedAtUs > nowUs ? state.updatedAtUs : nowUs;
  return { base: tokens, run: tokens, updatedAtUs };
}

interface Walk {
  readonly slots: Slot[];
  /** Tokens each check saw before its own take. */
  readonly seen: number[];
  readonly sufficient: boolean[];
  readonly allowed: boolean;
}

function walk(input: BucketEvaluationInput): Walk {
  const { states, checks, nowUs } = input;
  const byKey = new Map<string, Slot>();
  const slots: Slot[] = [];
  const seen: number[] = [];
  const sufficient: boolean[] = [];
  let allowed = true;
  for (let i = 0; i < checks.length; i++) {
    const check = checks[i]!;
    const capacity = check.spec.capacity;
    let slot = byKey.get(check.key);
    if (slot === undefined) {
      slot = openSlot(states[i], check.spec, nowUs);
      byKey.set(check.key, slot);
    } else {
      slot.base = Math.min(capacity, slot.base);
      slot.run = Math.min(capacity, slot.run);
    }
    const ok = slot.run >= tokensNeeded(check.cost);
    seen.push(slot.run);
    sufficient.push(ok);
    slots.push(slot);
    if (ok) slot.run -= check.cost;
    else if (!check.shadow) allowed = false;
  }
  return { slots, seen, sufficient, allowed };
}

/** Evaluates one request's checks all or nothing at `nowUs`. */
export function evaluateBuckets(input: BucketEvaluationInput): BucketEvaluation {
  const { slots, seen, sufficient, allowed } = walk(input);
  const finals = new Map<Slot, BucketState>();
  const outcomes: BucketOutcome[] = [];
  const next: BucketState[] = [];
  input.checks.forEach((check, i) => {
    const slot = slots[i]!;
    let state = finals.get(slot);
    if (state === undefined) {
      state = { tokens: allowed ? slot.run : slot.base, updatedAtUs: slot.updatedAtUs };
      finals.set(slot, state);
    }
    next.push(state);
    outcomes.push(outcomeOf({ check, tokens: state.tokens, seen: seen[i]!, sufficient: sufficient[i]! }));
  });
  return { decision: { allowed, outcomes }, next };
}

interface OutcomeInput {
  readonly check: KeyedCheck;
  /** Tokens of the check's bucket after the decision. */
  readonly tokens: number;
  readonly seen: number;
  readonly sufficient: boolean;
}

function outcomeOf({ check, tokens, seen, sufficient }: OutcomeInput): BucketOutcome {
  const { spec } = check;
  const need = tokensNeeded(check.cost);
  let retryMs = 0;
  if (!sufficient) retryMs = need > spec.capacity ? NEVER : msToRefill(need - seen, spec);
  return {
    sufficient,
    remaining: Math.floor(tokens),
    resetMs: msToRefill(spec.capacity - tokens, spec),
    retryMs,
  };
}
