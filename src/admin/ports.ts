import type { OverrideLimit, OverrideRecord } from "../domain/overrides.js";
import type { DescriptorEntry } from "../domain/rules.js";
import type {
  AuditAction,
  AuditEvent,
  ChainReport,
  ChangeContext,
  Page,
  VerifyOptions,
  VerifyResult,
} from "./types.js";

/**
 * The admin half's persistence: the operators' overrides and the audit log of every limit change,
 * two ports on one database (admin/postgres: Postgres, or embedded PGlite through the same SQL).
 * An override change and its audit row commit in one transaction. A database failure throws
 * FloodgateError UNAVAILABLE and changes nothing.
 */

/** An operator's change to one exact descriptor: who, why, and on what. */
export interface DescriptorChange {
  readonly domain: string;
  readonly entries: readonly DescriptorEntry[];
  readonly context: ChangeContext;
}

export interface SetOverrideInput extends DescriptorChange {
  readonly limit: OverrideLimit;
  readonly expiresAt: Date | undefined;
}

export interface OverrideQuery {
  readonly domain?: string;
  readonly pageSize: number;
  readonly pageToken?: string;
}

export interface AuditQuery {
  readonly since?: Date;
  readonly until?: Date;
  readonly actor?: string;
  readonly action?: AuditAction;
  readonly pageSize: number;
  readonly pageToken?: string;
}

/** The operators' overrides. Every change writes its audit row, and every replica hears of it. */
export interface OverrideRepository {
  setOverride(input: SetOverrideInput): Promise<OverrideRecord>;
  /** Returns the deleted override, or undefined if there was none (nothing is audited then). */
  deleteOverride(input: DescriptorChange): Promise<OverrideRecord | undefined>;
  listOverrides(query: OverrideQuery): Promise<Page<OverrideRecord>>;
  /** Active (not expired) overrides, for the in-memory table. */
  loadActiveOverrides(): Promise<OverrideRecord[]>;
  /** Deletes expired overrides, each with an `override.expire` row by the system actor. */
  expireOverrides(): Promise<OverrideRecord[]>;
  /** Hears override changes from any replica; resolves to an unsubscribe function. */
  onOverridesChanged(listener: () => void): Promise<() => Promise<void>>;
}

/** The audit log: a hash chain of rows, appended under one lock (docs/audit-log.md). */
export interface AuditLog {
  /**
   * Takes the chain lock (so the database is known to be reachable), runs `reset`, then appends
   * the `bucket.reset` row with its outcome (done, or failed and why) and commits. A failed reset
   * is rethrown after its row is committed; when the database fails first, `reset` never runs.
   */
  resetBucket(input: DescriptorChange, reset: () => Promise<void>): Promise<void>;
  /** Audits a rules (re)load unless the digest equals the last audited one; true if a row was written. */
  recordRulesReload(input: { digest: string; summary: unknown }): Promise<boolean>;
  listAuditEvents(query: AuditQuery): Promise<Page<AuditEvent>>;
  /** One at a time per replica: a second call while one runs is refused with UNAVAILABLE. */
  verifyAuditLog(options?: VerifyOptions): Promise<VerifyResult>;
  /** Once at startup, after migrations: seals the log on first use (with a key), and reports. */
  prepareChain(): Promise<ChainReport>;
}
