import { FloodgateError, isFloodgateError } from "../domain/errors.js";
import type { BucketStore } from "./bucket-store.js";

/**
 * Until the local fallback exists, a failing store call becomes UNAVAILABLE: Envoy then applies
 * its own failure_mode_deny (fail open by default). The cause goes to the log, never to the client.
 */
export function withUnavailableErrors(store: BucketStore): BucketStore {
  const wrap = (err: unknown): never => {
    if (isFloodgateError(err)) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    throw new FloodgateError("UNAVAILABLE", "rate limit store unavailable", detail);
  };
  return {
    kind: store.kind,
    evaluate: (checks) => store.evaluate(checks).catch(wrap),
    peek: (key) => store.peek(key).catch(wrap),
    reset: (key) => store.reset(key).catch(wrap),
    close: () => store.close(),
  };
}
