/**
 * At most one log line per kind per interval, for events an outsider can trigger at will (failed
 * admin authentications): the first is written at once; the others of the interval are held back
 * and, when it ends, the last of them is written with `suppressed`, the number of the others.
 * Every line thus stands for 1 + `suppressed` events. Memory is bounded: at most `maxKinds`
 * kinds are tracked, the excess sharing one.
 */
export interface LogThrottleOptions {
  readonly intervalMs: number;
  /** Kinds tracked at once (default 64); beyond it, new kinds share one overflow kind. */
  readonly maxKinds?: number;
  /** Wall clock, ms (default Date.now). */
  readonly now?: () => number;
  /** Runs `run` after `ms` (default: an unref'd setTimeout, so it never holds the process). */
  readonly schedule?: (run: () => void, ms: number) => void;
}

/** Writes one line: an event's fields, and how many other events of its kind it stands for. */
export type ThrottledWrite<F> = (fields: F, suppressed: number) => void;

interface Window<F> {
  /** Until then, further events of this kind are only counted. */
  until: number;
  suppressed: number;
  last: F | undefined;
}

const OVERFLOW = Symbol("overflow");

export class LogThrottle<F> {
  private readonly windows = new Map<string | typeof OVERFLOW, Window<F>>();
  private readonly intervalMs: number;
  private readonly maxKinds: number;
  private readonly now: () => number;
  private readonly schedule: (run: () => void, ms: number) => void;
  private armed = false;

  constructor(
    private readonly write: ThrottledWrite<F>,
    options: LogThrottleOptions,
  ) {
    this.intervalMs = options.intervalMs;
    this.maxKinds = Math.max(2, options.maxKinds ?? 64);
    this.now = options.now ?? Date.now;
    this.schedule = options.schedule ?? ((run, ms) => setTimeout(run, ms).unref());
  }

  note(kind: string, fields: F): void {
    const t = this.now();
    const slot = this.slotFor(kind, t);
    const window = this.windows.get(slot);
    if (window === undefined || t >= window.until) {
      // A held-back count whose timer has not run yet travels with this line.
      this.write(fields, window?.suppressed ?? 0);
      this.windows.set(slot, { until: t + this.intervalMs, suppressed: 0, last: undefined });
      this.arm(t + this.intervalMs);
      return;
    }
    window.suppressed += 1;
    window.last = fields;
  }

  /** Kinds currently tracked (for tests). */
  get kinds(): number {
    return this.windows.size;
  }

  /** The kind itself while there is room (one slot stays for the overflow kind). */
  private slotFor(kind: string, t: number): string | typeof OVERFLOW {
    if (this.windows.has(kind)) return kind;
    const own = () => this.windows.size - (this.windows.has(OVERFLOW) ? 1 : 0);
    if (own() >= this.maxKinds - 1) this.forgetIdle(t);
    return own() < this.maxKinds - 1 ? kind : OVERFLOW;
  }

  private forgetIdle(t: number): void {
    for (const [slot, window] of this.windows) {
      if (t >= window.until && window.suppressed === 0) this.windows.delete(slot);
    }
  }

  /** One timer at a time; it re-arms itself for the next window to end. */
  private arm(at: number): void {
    if (this.armed) return;
    this.armed = true;
    this.schedule(() => this.flush(), Math.max(0, at - this.now()));
  }

  /** Writes the held-back counts of the windows that ended, and forgets the quiet ones. */
  private flush(): void {
    this.armed = false;
    const t = this.now();
    for (const [slot, window] of this.windows) {
      if (t < window.until) continue;
      if (window.suppressed === 0 || window.last === undefined) {
        this.windows.delete(slot);
        continue;
      }
      // The last held-back event stands for itself, and `suppressed` for the others.
      this.write(window.last, window.suppressed - 1);
      this.windows.set(slot, { until: t + this.intervalMs, suppressed: 0, last: undefined });
    }
    let next = Infinity;
    for (const window of this.windows.values()) next = Math.min(next, window.until);
    if (next !== Infinity) this.arm(next);
  }
}
