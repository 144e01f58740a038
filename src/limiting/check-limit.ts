import { invalidArgument } from "../domain/errors.js";
import { badString, INPUT_LIMITS } from "./limits.js";
import { mostRestrictive } from "./most-restrictive.js";
import type { RateLimiter } from "./rate-limiter.js";
import type { DescriptorStatus, LimitRequest, RequestDescriptor } from "./types.js";
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

function descriptor(entries: { key: string; value: string }[]): RequestDescriptor {
  return { entries, limitOverride: undefined, hitsAddend: undefined };
}

/** README, "CheckLimit": per-user, per-endpoint and per-pair descriptors, checked together. */
export function toLimitRequest(domain: string, input: CheckLimitInput): LimitRequest {
  if (!Number.isInteger(input.weight) || input.weight < 0 || input.weight > INPUT_LIMITS.maxCost) {
    throw invalidArgument("weight");
  }
  if (input.userId.length === 0 && input.endpoint.length === 0) throw invalidArgument("user_id");
  if (badString(input.userId, INPUT_LIMITS.maxValueLength, "checkValue")) throw invalidArgument("user_id");
  if (badString(input.endpoint, INPUT_LIMITS.maxValueLength, "checkValue")) throw invalidArgument("endpoint");
  const user = { key: "user_id", value: input.userId };
  const endpoint = { key: "endpoint", value: input.endpoint };
  const descriptors: RequestDescriptor[] = [];
  if (input.userId.length > 0) descriptors.push(descriptor([user]));
  if (input.endpoint.length > 0) descriptors.push(descriptor([endpoint]));
  if (input.userId.length > 0 && input.endpoint.length > 0) descriptors.push(descriptor([user, endpoint]));
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
