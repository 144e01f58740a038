import { UNIT_SECONDS } from "../domain/units.js";
import type { DescriptorStatus, HeaderPair } from "./types.js";

/**
 * RateLimit-* response headers (RESPONSE_HEADERS=true), from the status with the least
 * remaining; on a tie an OVER_LIMIT status wins, so a denial explains itself.
 */
export function rateLimitHeaders(statuses: readonly DescriptorStatus[]): HeaderPair[] {
  let chosen: DescriptorStatus | undefined;
  for (const status of statuses) {
    if (status.currentLimit === undefined) continue;
    if (
      chosen === undefined ||
      status.limitRemaining < chosen.limitRemaining ||
      (status.limitRemaining === chosen.limitRemaining && status.code === "OVER_LIMIT")
    ) {
      chosen = status;
    }
  }
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
