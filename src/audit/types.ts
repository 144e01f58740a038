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

export interface VerifyResult {
  readonly ok: boolean;
  readonly checked: number;
  /** The first row whose hash or link does not match, if any. */
  readonly firstBroken: { readonly id: string; readonly problem: string } | undefined;
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
  recordBucketReset(input: {
    domain: string;
    entries: readonly DescriptorEntry[];
    context: ChangeContext;
  }): Promise<void>;
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
  verifyAuditLog(): Promise<VerifyResult>;
  /** LISTEN for override changes from any replica; resolves to an unsubscribe function. */
  onOverridesChanged(listener: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
