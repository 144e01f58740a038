import type { DescriptorEntry } from "../domain/rules.js";
import type { Unit } from "../domain/units.js";

/** A limit set by an operator for one exact descriptor; it wins over the rules. */
export interface OverrideLimit {
  readonly requestsPerUnit: number;
  readonly unit: Unit;
  /** Bucket capacity; undefined means requestsPerUnit. */
  readonly burst: number | undefined;
}

export interface OverrideRecord {
  readonly id: string;
  readonly domain: string;
  readonly entries: readonly DescriptorEntry[];
  readonly limit: OverrideLimit;
  readonly expiresAt: Date | undefined;
  readonly reason: string;
  /** `sub` of whoever set it last. */
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Who did it: a JWT's claims, or the service itself (`sub: "system"`). */
export interface Actor {
  readonly sub: string;
  readonly iss: string;
  readonly jti: string | undefined;
}

export const SYSTEM_ACTOR: Actor = Object.freeze({ sub: "system", iss: "floodgate", jti: undefined });

/** Audit rows and overrides are numbered by Postgres `bigint`: 1 to this. */
export const MAX_ROW_ID = 2n ** 63n - 1n;

/** A row id as its decimal text (no sign, no leading zero), within `bigint`. */
export function isRowId(text: string): boolean {
  return /^[1-9][0-9]{0,18}$/.test(text) && BigInt(text) <= MAX_ROW_ID;
}

export type AuditAction =
  "override.set" | "override.delete" | "override.expire" | "bucket.reset" | "rules.reload";

/** What an audit row records; the database adds the id, the time and the hash chain. */
export interface AuditEntry {
  readonly actor: Actor;
  readonly action: AuditAction;
  readonly domain: string | undefined;
  /** What was acted on, e.g. {domain, entries} or {digest}. */
  readonly target: unknown;
  readonly before: unknown;
  readonly after: unknown;
  readonly reason: string | undefined;
  readonly requestId: string | undefined;
}

export interface AuditEvent extends AuditEntry {
  /** bigserial, as a decimal string. */
  readonly id: string;
  /** From the database clock. */
  readonly at: Date;
  readonly prevHash: string;
  readonly hash: string;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Opaque; absent on the last page. */
  readonly nextPageToken: string | undefined;
}

export interface ChangeContext {
  readonly actor: Actor;
  readonly reason: string;
  readonly requestId: string | undefined;
}

export interface VerifyOptions {
  /** Walk from the first row, ignoring checkpoints. */
  readonly full?: boolean;
  /** A head exported earlier: that row must still exist with that hash (and, with a key, its seal verify). */
  readonly expectHead?: { readonly id: string; readonly hash: string };
  /** Stops the walk between batches (the caller went away); a checkpoint keeps the progress. */
  readonly signal?: AbortSignal;
}

export interface VerifyResult {
  readonly ok: boolean;
  /** Rows checked by this call (from a checkpoint, only the rows after it). */
  readonly checked: number;
  /** The first row whose hash, link or seal does not match, or that is missing, if any. */
  readonly firstBroken: { readonly id: string; readonly problem: string } | undefined;
  /** The newest row, verified: what an operator exports for `--expect-head` (only when ok). */
  readonly head: { readonly id: string; readonly hash: string } | undefined;
  /** The row of the checkpoint this walk continued from; undefined when it started at the first row. */
  readonly resumedFrom: string | undefined;
  /** Seals were checked with AUDIT_CHAIN_KEY_FILE. */
  readonly sealsVerified: boolean;
  /** Rows through this id were written before a key sealed them, and are trusted as found at `at`. */
  readonly trustedThrough: { readonly id: string; readonly at: Date } | undefined;
  /** Plain sentences for the operator: what was trusted, what was not checked. */
  readonly notes: readonly string[];
}

/** What a replica finds when it starts (docs/audit-log.md, "Seals" and "Roles"). */
export interface ChainReport {
  /** Why the connected role could rewrite the log behind Floodgate's back; empty when it cannot. */
  readonly rewriteRisks: readonly string[];
  /** No key here, but the log has seals: rows this replica writes will be reported unsealed. */
  readonly sealedWithoutKey: boolean;
  /** With a key: the row sealed now on first use (every row through it is trusted as found). */
  readonly adopted?: string | undefined;
  /** With a key: the first row of an unsealed tail after the last seal (reported by verification). */
  readonly unsealedFrom?: string | undefined;
}

/**
 * Overrides and the audit log (Postgres, or embedded PGlite through the same SQL). Every change
 * and its audit row commit in one transaction. A database failure throws FloodgateError
 * UNAVAILABLE and changes nothing.
 */
export interface AuditStore {
  setOverride(input: {
    domain: string;
    entries: readonly DescriptorEntry[];
    limit: OverrideLimit;
    expiresAt: Date | undefined;
    context: ChangeContext;
  }): Promise<OverrideRecord>;
  /** Returns the deleted override, or undefined if there was none (nothing is audited then). */
  deleteOverride(input: {
    domain: string;
    entries: readonly DescriptorEntry[];
    context: ChangeContext;
  }): Promise<OverrideRecord | undefined>;
  listOverrides(query: {
    domain?: string;
    pageSize: number;
    pageToken?: string;
  }): Promise<Page<OverrideRecord>>;
  /** Active (not expired) overrides, for the in-memory table. */
  loadActiveOverrides(): Promise<OverrideRecord[]>;
  /** Deletes expired overrides, each with an `override.expire` row by the system actor. */
  expireOverrides(): Promise<OverrideRecord[]>;
  /**
   * Takes the chain lock (so the database is known to be reachable), runs `reset`, then appends
   * the `bucket.reset` row with its outcome (done, or failed and why) and commits. A failed reset
   * is rethrown after its row is committed; when the database fails first, `reset` never runs.
   */
  resetBucket(
    input: { domain: string; entries: readonly DescriptorEntry[]; context: ChangeContext },
    reset: () => Promise<void>,
  ): Promise<void>;
  /** Audits a rules (re)load unless the digest equals the last audited one; true if a row was written. */
  recordRulesReload(input: { digest: string; summary: unknown }): Promise<boolean>;
  listAuditEvents(query: {
    since?: Date;
    until?: Date;
    actor?: string;
    action?: AuditAction;
    pageSize: number;
    pageToken?: string;
  }): Promise<Page<AuditEvent>>;
  /** One at a time per store: a second call while one runs is refused with UNAVAILABLE. */
  verifyAuditLog(options?: VerifyOptions): Promise<VerifyResult>;
  /** Once at startup, after migrations: seals the log on first use (with a key), and reports. */
  prepareChain(): Promise<ChainReport>;
  /** LISTEN for override changes from any replica; resolves to an unsubscribe function. */
  onOverridesChanged(listener: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
