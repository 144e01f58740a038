/**
 * Capped exponential backoff, the one rule every retry loop uses (the JWKS URL, pending audit
 * rows, the LISTEN connection): the wait after the `failures`-th failure in a row (1 for the
 * first) is `minMs`, doubled with each further failure, never more than `maxMs`.
 */
export function backoffMs(
  failures: number,
  range: { readonly minMs: number; readonly maxMs: number },
): number {
  return Math.min(range.maxMs, range.minMs * 2 ** Math.max(0, failures - 1));
}
