import type { DescriptorStatus } from "./types.js";

/**
 * The status whose limit is closest to denying, reported on both APIs: ShouldRateLimit's
 * RateLimit-* headers and CheckLimit's `remaining` and `reset_at`. The least `limitRemaining`
 * wins; on a tie an OVER_LIMIT status wins (so a denial explains itself), then the first in
 * request order. Statuses without a limit (no match, unlimited, replaced) never count.
 */
export function mostRestrictive(statuses: readonly DescriptorStatus[]): DescriptorStatus | undefined {
  let chosen: DescriptorStatus | undefined;
  for (const status of statuses) {
    if (status.currentLimit !== undefined && (chosen === undefined || tighter(status, chosen)))
      chosen = status;
  }
  return chosen;
}

function tighter(status: DescriptorStatus, than: DescriptorStatus): boolean {
  if (status.limitRemaining !== than.limitRemaining) return status.limitRemaining < than.limitRemaining;
  return status.code === "OVER_LIMIT" && than.code !== "OVER_LIMIT";
}
