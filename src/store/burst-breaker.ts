import type { IBreaker } from "cockatiel";

/**
 * A consecutive-failures breaker that counts a burst of failures as one. When the process itself
 * stalls (a long event-loop turn, a GC pause), every call in flight misses its deadline in the
 * same instant; that says nothing more about Redis than one failure does, and with cockatiel's
 * plain ConsecutiveBreaker it opened the breaker on CPU load alone. Failures that arrive while
 * Redis is really gone are spread out over time (each call fails when it is made or when its own
 * deadline passes), so they still count one by one and the breaker opens as fast as before.
 * Any success resets the count.
 */
export class BurstMergingBreaker implements IBreaker {
  state = { failures: 0, lastCountedAt: Number.NEGATIVE_INFINITY };

  constructor(
    private readonly options: {
      readonly threshold: number;
      /** Failures closer together than this count once. */
      readonly burstMs: number;
      readonly clock?: () => number;
    },
  ) {}

  success(): void {
    this.state = { failures: 0, lastCountedAt: Number.NEGATIVE_INFINITY };
  }

  failure(): boolean {
    const now = (this.options.clock ?? performance.now.bind(performance))();
    if (now - this.state.lastCountedAt >= this.options.burstMs) {
      this.state = { failures: this.state.failures + 1, lastCountedAt: now };
    }
    return this.state.failures >= this.options.threshold;
  }
}
