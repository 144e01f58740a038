import type { RuleSet } from "../domain/rules.js";
import type { BucketStore, DecisionSource, StoreDecision } from "../store/bucket-store.js";
import { rateLimitHeaders } from "./headers.js";
import { validateLimitRequest } from "./limits.js";
import type { Plan } from "./plan.js";
import { buildPlan, statusOf } from "./plan.js";
import type { OperatorLimits } from "./resolve.js";
import { resolveLimits } from "./resolve.js";
import type { DescriptorStatus, LimitRequest, LimitResult } from "./types.js";

export type Outcome = "allowed" | "denied" | "shadow_denied";

/** Told about every decision (metrics); must be cheap and must not throw. */
export interface DecisionObserver {
  onDecision(event: { domain: string; outcome: Outcome; source: DecisionSource | undefined }): void;
}

export interface RulesSource {
  current(): RuleSet;
}

export interface RateLimiterOptions {
  readonly rules: RulesSource;
  readonly store: Pick<BucketStore, "evaluate">;
  /** Global shadow mode: an OVER_LIMIT overall decision is reported as OK. */
  readonly shadowMode: boolean;
  readonly responseHeaders: boolean;
  /** Honour Envoy's descriptor `limit` (DESCRIPTOR_LIMIT_OVERRIDES). Default true. */
  readonly descriptorLimits?: boolean;
  readonly observer?: DecisionObserver;
  /** Operators' overrides (admin API); absent when admin is off. */
  readonly operatorLimits?: OperatorLimits | undefined;
  /** Wall clock in ms, for override expiry. Default Date.now. */
  readonly now?: () => number;
}

export interface RateLimiter {
  /** The one decision function behind ShouldRateLimit, CheckLimit and the HTTP API. */
  decide(request: LimitRequest): Promise<LimitResult>;
}

/** Over limit in some bucket, whether or not that bucket (or the whole service) is in shadow mode. */
function wouldDeny(plan: Plan, decision: StoreDecision | undefined): boolean {
  if (decision?.outcomes.some((o) => !o.sufficient)) return true;
  return plan.steps.some((s) => s.kind === "zero");
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { rules, store, shadowMode, responseHeaders, observer, operatorLimits } = options;
  const { descriptorLimits } = options;
  const now = options.now ?? Date.now;

  async function decide(request: LimitRequest): Promise<LimitResult> {
    validateLimitRequest(request);
    const ruleSet = rules.current();
    const nowMs = operatorLimits === undefined ? 0 : now();
    const limits = resolveLimits({ rules: ruleSet, operatorLimits, nowMs, descriptorLimits }, request);
    const plan = buildPlan(request, limits);
    const decision =
      plan.checks.length > 0 && !plan.staticDeny ? await store.evaluate(plan.checks) : undefined;
    const statuses: DescriptorStatus[] = plan.steps.map((step) => statusOf(step, decision?.outcomes));
    const denied = statuses.some((s) => s.code === "OVER_LIMIT");
    const outcome: Outcome =
      denied && !shadowMode ? "denied" : wouldDeny(plan, decision) ? "shadow_denied" : "allowed";
    const domain = ruleSet.domains.has(request.domain) ? request.domain : "unknown";
    observer?.onDecision({ domain, outcome, source: decision?.source });
    return {
      overallCode: outcome === "denied" ? "OVER_LIMIT" : "OK",
      statuses,
      responseHeaders: responseHeaders ? rateLimitHeaders(statuses) : [],
      source: decision?.source,
    };
  }

  return { decide };
}
