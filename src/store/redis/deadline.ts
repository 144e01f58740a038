import { StoreError } from "./errors.js";

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/**
 * The per-request Redis deadline (REDIS_TIMEOUT_MS), measured so that only Redis's slowness
 * counts. When the event loop is busy, a timer can fire while Redis's reply already waits in the
 * socket buffer: Node runs timers before it reads sockets, so a plain timeout (ioredis's own
 * commandTimeout) would then blame Redis for the process's own lag and open the breaker under
 * CPU load. On expiry this gives the loop one turn (setImmediate runs after the I/O poll) to
 * deliver a reply that has already arrived, and only then fails.
 */
export function withDeadline<T>(
  work: Promise<T>,
  options: { readonly ms: number; readonly mapError?: (error: unknown) => Error },
): Promise<T> {
  const { ms, mapError = asError } = options;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const expire = (): void => {
      if (settled) return;
      settled = true;
      reject(new StoreError("timeout", `Command timed out (${ms} ms deadline)`));
    };
    const timer = setTimeout(() => setImmediate(expire), ms);
    work.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(mapError(error));
      },
    );
  });
}
