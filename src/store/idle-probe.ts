/**
 * The idle probe (README, "When Redis fails"): a check of Redis sent only while no command to it
 * has come back for a whole interval, so that an outage is noticed (and its end too) when no
 * request reaches Redis, for example when none arrives, or when the over-limit cache answers them
 * all. The hot path pays one boolean per Redis call (the caller's `takeActivity` mark); the timer
 * is unref'd, so it never keeps the process alive, and `stop` ends it.
 */
export interface IdleProbeOptions {
  readonly intervalMs: number;
  /** True when a command came back (success or failure) since the last tick; clears the mark. */
  readonly takeActivity: () => boolean;
  /** One check, bounded by its own deadline; what its outcome means is the caller's (the breaker's). */
  readonly probe: () => Promise<unknown>;
}

export interface IdleProbe {
  stop(): void;
}

export function startIdleProbe(options: IdleProbeOptions): IdleProbe {
  let inFlight = false;
  const timer = setInterval(() => {
    if (options.takeActivity() || inFlight) return;
    inFlight = true;
    options
      .probe()
      .catch(() => undefined)
      .finally(() => {
        inFlight = false;
      });
  }, options.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
