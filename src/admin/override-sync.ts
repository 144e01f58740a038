import type { OverrideRecord } from "../domain/overrides.js";
import type { OverrideRepository } from "./ports.js";

export interface OverrideSyncOptions {
  readonly repository: Pick<
    OverrideRepository,
    "loadActiveOverrides" | "expireOverrides" | "onOverridesChanged"
  >;
  /** Receives the whole active table each time it changes (swap one reference; never throw). */
  readonly apply: (records: OverrideRecord[]) => void;
  /** Full reload this often, for notifications that were missed (OVERRIDE_RESYNC_MS). */
  readonly resyncMs: number;
  readonly onError: (err: unknown) => void;
  /** Wall clock in ms, to drop expired overrides even while the database is unreachable. */
  readonly now?: () => number;
  /** Expiry sweep period (default 1000 ms). */
  readonly sweepMs?: number;
  /** Notifications within this window cause one reload (default 20 ms). */
  readonly debounceMs?: number;
}

export interface OverrideSync {
  stop(): Promise<void>;
}

/**
 * Keeps the in-memory override table in step with the database: reload on every change
 * notification (debounced), a periodic full resync, and an expiry sweep about every second.
 * It never throws: with the database down it keeps the last table (minus what has expired by
 * the local clock), reports through onError, and catches up when the database returns.
 */
class Sync {
  private records: OverrideRecord[] = [];
  private appliedCount = -1;
  private loading: Promise<void> | undefined;
  private reloadAgain = false;
  private sweeping: Promise<void> | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private readonly intervals: NodeJS.Timeout[] = [];
  private unsubscribe: (() => Promise<void>) | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly options: OverrideSyncOptions) {
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    // Subscribe before the first load, so a change committed in between is not missed.
    try {
      this.unsubscribe = await this.options.repository.onOverridesChanged(() => this.changed());
    } catch (error) {
      this.options.onError(error); // the periodic resync still keeps us in step
    }
    await this.reload();
    this.every(this.options.resyncMs, () => void this.reload());
    this.every(this.options.sweepMs ?? 1000, () => void this.sweep());
  }

  private every(ms: number, run: () => void): void {
    const timer = setInterval(run, ms);
    timer.unref();
    this.intervals.push(timer);
  }

  private changed(): void {
    if (this.stopped || this.debounce !== undefined) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.reload();
    }, this.options.debounceMs ?? 20);
    this.debounce.unref();
  }

  /** One load at a time; a request during a load runs one more afterwards (it may be newer). */
  reload(): Promise<void> {
    if (this.loading !== undefined) {
      this.reloadAgain = true;
      return this.loading;
    }
    this.loading = this.loadLoop().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async loadLoop(): Promise<void> {
    do {
      this.reloadAgain = false;
      try {
        this.records = await this.options.repository.loadActiveOverrides();
        this.publish(true);
      } catch (error) {
        this.options.onError(error);
      }
    } while (this.reloadAgain && !this.stopped);
  }

  private sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    try {
      const expired = await this.options.repository.expireOverrides();
      if (expired.length > 0) {
        const gone = new Set(expired.map((r) => r.id));
        this.records = this.records.filter((r) => !gone.has(r.id));
        this.publish(true);
      }
    } catch (error) {
      this.options.onError(error);
    }
    this.publish(false); // by the local clock, which matters while the database is unreachable
  }

  /** Applies the records still active now; unless forced, only if expiry removed some. */
  private publish(force: boolean): void {
    if (this.stopped) return;
    const at = this.now();
    const active = this.records.filter((r) => r.expiresAt === undefined || r.expiresAt.getTime() > at);
    if (!force && active.length === this.appliedCount) return;
    this.appliedCount = active.length;
    try {
      this.options.apply(active);
    } catch (error) {
      this.options.onError(error);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.intervals) clearInterval(timer);
    clearTimeout(this.debounce);
    await this.unsubscribe?.().catch((error: unknown) => this.options.onError(error));
    await Promise.all([this.loading, this.sweeping]);
  }
}

export async function startOverrideSync(options: OverrideSyncOptions): Promise<OverrideSync> {
  const sync = new Sync(options);
  await sync.start();
  return { stop: () => sync.stop() };
}
