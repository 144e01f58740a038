import { describe, expect, it } from "vitest";
import { createCheckLimit } from "../../src/limiting/check-limit.js";
import { rateLimitHeaders } from "../../src/limiting/headers.js";
import { mostRestrictive } from "../../src/limiting/most-restrictive.js";
import type { RateLimiter } from "../../src/limiting/rate-limiter.js";
import type { DescriptorStatus, LimitSpec } from "../../src/limiting/types.js";

/**
 * One rule picks the status that RateLimit-* headers (ShouldRateLimit) and CheckLimit's
 * `remaining`/`reset_at` report: the least remaining; on a tie an OVER_LIMIT status, then the
 * first in request order. Statuses without a limit never count.
 */
const spec = (name: string): LimitSpec => ({ name, requestsPerUnit: 10, unit: "minute" });
const ok = (name: string, remaining: number, resetMs = 1000): DescriptorStatus => ({
  code: "OK",
  currentLimit: spec(name),
  limitRemaining: remaining,
  resetMs,
  retryMs: 0,
});
const over = (name: string, remaining: number, resetMs = 1000): DescriptorStatus => ({
  ...ok(name, remaining, resetMs),
  code: "OVER_LIMIT",
  retryMs: 500,
});
const noLimit: DescriptorStatus = {
  code: "OK",
  currentLimit: undefined,
  limitRemaining: 0,
  resetMs: 0,
  retryMs: 0,
};
const nameOf = (status: DescriptorStatus | undefined) => status?.currentLimit?.name;

describe("mostRestrictive", () => {
  it("picks the least remaining, and ignores statuses without a limit", () => {
    expect(nameOf(mostRestrictive([ok("a", 5), noLimit, ok("b", 2), ok("c", 3)]))).toBe("b");
    expect(mostRestrictive([noLimit, noLimit])).toBeUndefined();
    expect(mostRestrictive([])).toBeUndefined();
  });

  it("on a tie, prefers an OVER_LIMIT status wherever it stands", () => {
    expect(nameOf(mostRestrictive([ok("a", 0), over("b", 0)]))).toBe("b");
    expect(nameOf(mostRestrictive([over("a", 0), ok("b", 0)]))).toBe("a");
  });

  it("otherwise keeps the first in request order", () => {
    expect(nameOf(mostRestrictive([ok("a", 1), ok("b", 1)]))).toBe("a");
    expect(nameOf(mostRestrictive([over("a", 0), over("b", 0)]))).toBe("a");
  });

  it("prefers fewer remaining over an OVER_LIMIT code", () => {
    expect(nameOf(mostRestrictive([over("a", 3), ok("b", 1)]))).toBe("b");
  });
});

describe("the rule on both APIs", () => {
  const statuses = [ok("allowed", 0, 0), over("denied", 0, 7000)];

  it("RateLimit-* headers report the denying bucket on a tie", () => {
    const headers = rateLimitHeaders(statuses);
    expect(headers.find((h) => h.key === "RateLimit-Limit")?.value).toBe('10, 10;w=60;name="denied"');
    expect(headers.find((h) => h.key === "RateLimit-Reset")?.value).toBe("7");
  });

  it("CheckLimit reports the denying bucket's reset on a tie", async () => {
    // As after an over-limit cache hit: the bucket not in the cache reports OK with 0 left.
    const limiter: RateLimiter = {
      decide: () =>
        Promise.resolve({ overallCode: "OVER_LIMIT", statuses, responseHeaders: [], source: undefined }),
    };
    const check = createCheckLimit({ limiter, domain: "api", now: () => 1_000_000 });
    const outcome = await check({ userId: "u", endpoint: "/e", weight: 1 });
    expect(outcome).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 500 });
    expect(outcome.resetAt.getTime()).toBe(1_007_000);
  });
});
