import type { BucketCheck, BucketId, BucketOutcome } from "../domain/bucket.js";
import { NEVER } from "../domain/bucket.js";
import { UNIT_SECONDS } from "../domain/units.js";
import type { ResolvedLimit } from "./resolve.js";
import type { DescriptorStatus, LimitRequest, LimitSpec } from "./types.js";
import { UNLIMITED_REMAINING } from "./types.js";

/** How each descriptor is decided: no limit, statically, or by a bucket check (by index). */
export type Step =
  | { readonly kind: "none" }
  | { readonly kind: "unlimited" }
  | { readonly kind: "zero"; readonly limit: ResolvedLimit }
  | { readonly kind: "bucket"; readonly limit: ResolvedLimit; readonly check: number };

export interface Plan {
  readonly steps: readonly Step[];
  readonly checks: readonly BucketCheck[];
  /** A non-shadow `requests_per_unit: 0` limit matched: the request is denied without a store call. */
  readonly staticDeny: boolean;
}

const NONE: Step = { kind: "none" };
const UNLIMITED: Step = { kind: "unlimited" };

/**
 * Cost rules (README, "Token bucket semantics"): a present descriptor hits_addend wins (0 = check
 * only), else the request's, where 0 means 1.
 */
export function costOf(request: LimitRequest, index: number): number {
  return request.descriptors[index]!.hitsAddend ?? (request.hitsAddend === 0 ? 1 : request.hitsAddend);
}

/** The bucket a resolved limit is counted in; the store makes the key. */
export function bucketOf(domain: string, limit: ResolvedLimit): BucketId {
  return { domain, entries: limit.bucketEntries, descriptorLimit: limit.descriptorLimit };
}

function checkFor(bucket: BucketId, limit: ResolvedLimit, cost: number): BucketCheck {
  const rule = limit.rule;
  const spec = {
    capacity: rule.burst ?? rule.requestsPerUnit,
    refillTokens: rule.requestsPerUnit,
    refillPeriodUs: UNIT_SECONDS[rule.unit] * 1_000_000,
  };
  return { bucket, spec, cost, shadow: limit.shadow };
}

export function buildPlan(request: LimitRequest, limits: readonly (ResolvedLimit | undefined)[]): Plan {
  const checks: BucketCheck[] = [];
  let staticDeny = false;
  const steps = limits.map((limit, i): Step => {
    if (limit === undefined) return NONE;
    if (limit.rule.unlimited) return UNLIMITED;
    if (limit.rule.requestsPerUnit === 0) {
      staticDeny ||= !limit.shadow;
      return { kind: "zero", limit };
    }
    checks.push(checkFor(bucketOf(request.domain, limit), limit, costOf(request, i)));
    return { kind: "bucket", limit, check: checks.length - 1 };
  });
  return { steps, checks, staticDeny };
}

/**
 * The name Envoy sees in `current_limit` (and the RateLimit-Limit header) for an operator's
 * override. A label only: it is not a rule name, and no rule's `replaces` can refer to it.
 */
export const OPERATOR_LIMIT_LABEL = "override";

function specOf(limit: ResolvedLimit): LimitSpec {
  const { requestsPerUnit, unit } = limit.rule;
  const name = limit.source === "operator" ? OPERATOR_LIMIT_LABEL : limit.rule.name;
  return { name, requestsPerUnit, unit };
}

function unitMs(limit: ResolvedLimit): number {
  return UNIT_SECONDS[limit.rule.unit] * 1000;
}

/**
 * A bucket that a static denial (a `requests_per_unit: 0` limit) did not consult: the request
 * made no store call, so its state is unknown. It reports 0 left and no reset (README, "Token
 * bucket semantics"): never more than it may hold, and reading it would cost the store call the
 * static denial exists to save. At 0 left the zero limit's OVER_LIMIT status stays the most
 * restrictive, so the RateLimit-* headers and CheckLimit's answer explain the denial.
 */
function notConsulted(limit: ResolvedLimit): DescriptorStatus {
  return { code: "OK", currentLimit: specOf(limit), limitRemaining: 0, resetMs: 0, retryMs: 0 };
}

function bucketStatus(limit: ResolvedLimit, outcome: BucketOutcome | undefined): DescriptorStatus {
  if (outcome === undefined) return notConsulted(limit);
  const currentLimit = specOf(limit);
  const blocks = !outcome.sufficient && !limit.shadow;
  // A check that can never pass (cost above capacity) suggests waiting one unit, not forever.
  const retryMs = outcome.retryMs === NEVER ? unitMs(limit) : outcome.retryMs;
  return {
    code: blocks ? "OVER_LIMIT" : "OK",
    currentLimit,
    limitRemaining: outcome.remaining,
    resetMs: outcome.resetMs,
    retryMs: blocks ? retryMs : 0,
  };
}

const NO_LIMIT: DescriptorStatus = {
  code: "OK",
  currentLimit: undefined,
  limitRemaining: 0,
  resetMs: 0,
  retryMs: 0,
};
const UNLIMITED_STATUS: DescriptorStatus = { ...NO_LIMIT, limitRemaining: UNLIMITED_REMAINING };

export function statusOf(step: Step, outcomes: readonly BucketOutcome[] | undefined): DescriptorStatus {
  switch (step.kind) {
    case "none":
      return NO_LIMIT;
    case "unlimited":
      return UNLIMITED_STATUS;
    case "zero": {
      const code = step.limit.shadow ? "OK" : "OVER_LIMIT";
      const retryMs = step.limit.shadow ? 0 : unitMs(step.limit);
      return { code, currentLimit: specOf(step.limit), limitRemaining: 0, resetMs: 0, retryMs };
    }
    case "bucket":
      return bucketStatus(step.limit, outcomes?.[step.check]);
  }
}
