/**
 * The admin half's records: who acted, what an audit row holds, pages, and what verification and
 * the startup chain check report. The ports that store them are in ports.ts; overrides themselves
 * are domain types (domain/overrides.ts).
 */

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
