import type { AuditLog } from "./ports.js";
import { summarizeRulesChange } from "../config/rules-diff.js";
import { backoffMs } from "../domain/backoff.js";
import type { RuleSet } from "../domain/rules.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";

/**
 * The audit rows of rules loads (actor `system`). A load takes effect whether or not the database
 * is up, so its row is kept, in order, and retried with capped backoff until written
 * (docs/audit-log.md, "Rules reloads"). A replica that loads the same rules as another writes no
 * second row: the audit log skips a digest equal to the last one audited, which also makes a retry
 * after an unknown commit outcome write the row exactly once.
 */
export interface ReloadAudit {
  /** A rules load took effect: its row is queued behind any pending ones. */
  record(change: { previous: RuleSet | undefined; next: RuleSet }): void;
  /** Rows not written yet. */
  readonly pending: number;
  /** One last attempt for what is pending (no more waiting), then what is left is counted and logged. */
  close(): Promise<void>;
}

export interface ReloadAuditOptions {
  readonly auditLog: Pick<AuditLog, "recordRulesReload">;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, "auditEvents" | "auditPending" | "auditUnrecorded">;
  /** Rows kept while the database is unreachable (default 100); beyond it loads are merged. */
  readonly maxPending?: number;
  /** Retry delay: doubling from minMs up to maxMs (default 250 ms to 30 s). */
  readonly retry?: { readonly minMs: number; readonly maxMs: number };
}

interface PendingLoad {
  readonly previous: RuleSet | undefined;
  next: RuleSet;
  /** When the (last merged) load took effect, by this replica's clock. */
  effectiveAt: Date;
  /** Later loads folded into this row because the bound was reached. */
  merged: number;
}

function rowOf(load: PendingLoad): { digest: string; summary: unknown } {
  return {
    digest: load.next.digest,
    summary: {
      ...summarizeRulesChange(load.previous, load.next),
      effective_at: load.effectiveAt.toISOString(),
      ...(load.merged === 0 ? {} : { merged_loads: load.merged }),
    },
  };
}

const reasonOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

class PendingReloads implements ReloadAudit {
  private readonly queue: PendingLoad[] = [];
  private readonly maxPending: number;
  private readonly retry: { minMs: number; maxMs: number };
  private failures = 0;
  private draining: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private closing = false;

  constructor(private readonly options: ReloadAuditOptions) {
    this.maxPending = Math.max(1, options.maxPending ?? 100);
    this.retry = options.retry ?? { minMs: 250, maxMs: 30_000 };
  }

  get pending(): number {
    return this.queue.length;
  }

  record(change: { previous: RuleSet | undefined; next: RuleSet }): void {
    if (this.closing) return;
    const newest = this.queue.at(-1);
    if (this.queue.length >= this.maxPending && newest !== undefined) this.merge(newest, change.next);
    else this.queue.push({ ...change, effectiveAt: new Date(), merged: 0 });
    this.options.metrics.auditPending.set(this.queue.length);
    this.kick();
  }

  private kick(): void {
    if (this.draining !== undefined) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.queue.length > 0 && !this.closing) this.kick();
    });
  }

  /** At the bound the newest pending row absorbs the load: the net change is still recorded. */
  private merge(newest: PendingLoad, next: RuleSet): void {
    const skipped = newest.next.digest;
    newest.next = next;
    newest.effectiveAt = new Date();
    newest.merged += 1;
    this.options.metrics.auditUnrecorded.inc({ reason: "merged" });
    this.options.logger.error(
      { pending: this.queue.length, skipped, digest: next.digest },
      "audit log unreachable and too many rules loads pending: merged this load into the pending " +
        "one before it; the rules in force between them get no audit row of their own",
    );
  }

  private async drain(): Promise<void> {
    for (let load = this.queue[0]; load !== undefined; load = this.queue[0]) {
      try {
        const written = await this.options.auditLog.recordRulesReload(rowOf(load));
        this.queue.shift();
        this.options.metrics.auditPending.set(this.queue.length);
        if (written) this.options.metrics.auditEvents.inc({ action: "rules.reload" });
        if (this.failures > 0 && this.queue.length === 0)
          this.options.logger.info({ attempts: this.failures + 1 }, "pending audit rows written");
        if (this.queue.length === 0) this.failures = 0;
      } catch (err) {
        this.failures += 1;
        if (this.closing) return;
        await this.backOff(err);
      }
    }
  }

  private async backOff(err: unknown): Promise<void> {
    const delayMs = backoffMs(this.failures, this.retry);
    this.options.logger.warn(
      { pending: this.queue.length, retryInMs: delayMs, reason: reasonOf(err) },
      "rules load took effect but its audit row is not written yet; retrying",
    );
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delayMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.wake?.();
    await this.draining;
    if (this.queue.length === 0) return;
    this.options.metrics.auditUnrecorded.inc({ reason: "shutdown" }, this.queue.length);
    this.options.logger.error(
      { unwritten: this.queue.map((load) => load.next.digest) },
      "stopping with rules loads whose audit rows could not be written",
    );
    this.queue.length = 0;
    this.options.metrics.auditPending.set(0);
  }
}

export function createReloadAudit(options: ReloadAuditOptions): ReloadAudit {
  return new PendingReloads(options);
}
