import { invalidArgument } from "../domain/errors.js";
import type { DescriptorEntry } from "../domain/rules.js";
import { badString, INPUT_LIMITS } from "./limits.js";
import { mostRestrictive } from "./most-restrictive.js";
import type { RateLimiter } from "./rate-limiter.js";
import type { LimitRequest, RequestDescriptor } from "./types.js";
import { UNLIMITED_REMAINING } from "./types.js";

export interface CheckLimitInput {
  readonly userId: string;
  readonly endpoint: string;
  /** Tokens this call costs; 0 means 1. */
  readonly weight: number;
}

export interface CheckLimitOutcome {
  readonly allowed: boolean;
  /** Tokens left in the most restrictive bucket. */
  readonly remaining: number;
  /** When the most restrictive bucket is full again (wall clock). */
  readonly resetAt: Date;
  /** When denied, milliseconds until every denying bucket could take the weight; else 0. */
  readonly retryAfterMs: number;
}

export interface CheckLimitOptions {
  readonly limiter: RateLimiter;
  readonly domain: string;
  /** Wall clock in ms, injected; only used to turn "reset in N ms" into a timestamp. */
  readonly now: () => number;
}

/**
 * The entries CheckLimit names a user and an endpoint by, in its order: `user_id`, then
 * `endpoint`; an empty value is left out. Admin targets name CheckLimit's descriptors with it.
 */
export function checkLimitEntries(userId: string, endpoint: string): DescriptorEntry[] {
  const entries: DescriptorEntry[] = [];
  if (userId !== "") entries.push({ key: "user_id", value: userId });
  if (endpoint !== "") entries.push({ key: "endpoint", value: endpoint });
  return entries;
}

function descriptor(entries: readonly DescriptorEntry[]): RequestDescriptor {
  return { entries, descriptorLimit: undefined, hitsAddend: undefined };
}

/** README, "CheckLimit": per-user, per-endpoint and per-pair descriptors, checked together. */
export function toLimitRequest(domain: string, input: CheckLimitInput): LimitRequest {
  if (!Number.isInteger(input.weight) || input.weight < 0 || input.weight > INPUT_LIMITS.maxCost) {
    throw invalidArgument("weight");
  }
  if (input.userId.length === 0 && input.endpoint.length === 0) throw invalidArgument("user_id");
  if (badString(input.userId, INPUT_LIMITS.maxValueLength, "checkValue")) throw invalidArgument("user_id");
  if (badString(input.endpoint, INPUT_LIMITS.maxValueLength, "checkValue")) throw invalidArgument("endpoint");
  const pair = checkLimitEntries(input.userId, input.endpoint);
  const descriptors = pair.map((entry) => descriptor([entry]));
  if (pair.length === 2) descriptors.push(descriptor(pair));
  return { domain, descriptors, hitsAddend: input.weight };
}

export function createCheckLimit(
  options: CheckLimitOptions,
): (input: CheckLimitInput) => Promise<CheckLimitOutcome> {
  const { limiter, domain, now } = options;
  return async (input) => {
    const result = await limiter.decide(toLimitRequest(domain, input));
    const allowed = result.overallCode === "OK";
    const tightest = mostRestrictive(result.statuses);
    const retryAfterMs = allowed ? 0 : Math.max(0, ...result.statuses.map((s) => s.retryMs));
    return {
      allowed,
      remaining: tightest?.limitRemaining ?? UNLIMITED_REMAINING,
      resetAt: new Date(now() + (tightest?.resetMs ?? 0)),
      retryAfterMs,
    };
  };
}
