import { UNIT_SECONDS } from "../domain/units.js";
import { mostRestrictive } from "./most-restrictive.js";
import type { DescriptorStatus, HeaderPair } from "./types.js";

/**
 * RateLimit-* response headers (RESPONSE_HEADERS=true), from the most restrictive status
 * (most-restrictive.ts says which one that is).
 */
export function rateLimitHeaders(statuses: readonly DescriptorStatus[]): HeaderPair[] {
  const chosen = mostRestrictive(statuses);
  const limit = chosen?.currentLimit;
  if (chosen === undefined || limit === undefined) return [];
  const name = limit.name === undefined ? "" : `;name="${limit.name.replace(/["\\]/g, "")}"`;
  return [
    {
      key: "RateLimit-Limit",
      value: `${limit.requestsPerUnit}, ${limit.requestsPerUnit};w=${UNIT_SECONDS[limit.unit]}${name}`,
    },
    { key: "RateLimit-Remaining", value: String(chosen.limitRemaining) },
    { key: "RateLimit-Reset", value: String(Math.ceil(chosen.resetMs / 1000)) },
  ];
}
