import { invalidArgument } from "../../domain/errors.js";
import type { DescriptorEntry } from "../../domain/rules.js";
import type { Unit } from "../../domain/units.js";
import type { OverrideRecord } from "../../domain/overrides.js";
import type { Actor, AuditAction, AuditEvent, Page } from "../types.js";
import { isRowId } from "../types.js";

/**
 * Row shapes as `pg` returns them (bigint as text, timestamptz as Date, jsonb parsed). The
 * column lists alias `id::text as id`: an ORDER BY must name the table's column (`t.id`), since
 * a bare `id` there means the text alias and sorts "10" before "9".
 */
export interface OverrideRow {
  id: string;
  domain: string;
  entries: DescriptorEntry[];
  requests_per_unit: string;
  unit: Unit;
  burst: string | null;
  expires_at: Date | null;
  reason: string;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

export const OVERRIDE_COLUMNS =
  "id::text as id, domain, entries, requests_per_unit::text as requests_per_unit, unit, " +
  "burst::text as burst, expires_at, reason, created_by, created_at, updated_at";

export interface AuditRow {
  id: string;
  at: Date;
  actor_sub: string;
  actor_iss: string;
  actor_jti: string | null;
  action: AuditAction;
  domain: string | null;
  target: unknown;
  before: unknown;
  after: unknown;
  reason: string | null;
  request_id: string | null;
  prev_hash: string;
  hash: string;
}

export const AUDIT_COLUMNS =
  "id::text as id, at, actor_sub, actor_iss, actor_jti, action, domain, target, before, after, " +
  "reason, request_id, prev_hash, hash";

export function toOverride(row: OverrideRow): OverrideRecord {
  return {
    id: row.id,
    domain: row.domain,
    entries: row.entries.map((e) => ({ key: e.key, value: e.value })),
    limit: {
      requestsPerUnit: Number(row.requests_per_unit),
      unit: row.unit,
      burst: row.burst === null ? undefined : Number(row.burst),
    },
    expiresAt: row.expires_at ?? undefined,
    reason: row.reason,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toAuditEvent(row: AuditRow): AuditEvent {
  const actor: Actor = { sub: row.actor_sub, iss: row.actor_iss, jti: row.actor_jti ?? undefined };
  return {
    id: row.id,
    at: row.at,
    actor,
    action: row.action,
    domain: row.domain ?? undefined,
    target: row.target,
    before: row.before,
    after: row.after,
    reason: row.reason ?? undefined,
    requestId: row.request_id ?? undefined,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** An override as it appears in an audit row's before/after (snake_case JSON, UTC times). */
export function overrideSnapshot(record: OverrideRecord): Record<string, unknown> {
  return {
    id: record.id,
    domain: record.domain,
    entries: record.entries,
    requests_per_unit: record.limit.requestsPerUnit,
    unit: record.limit.unit,
    burst: record.limit.burst ?? null,
    expires_at: record.expiresAt?.toISOString() ?? null,
    reason: record.reason,
    created_by: record.createdBy,
    updated_at: record.updatedAt.toISOString(),
  };
}

/** Entries as stored: plain {key, value} objects in request order (the canonical descriptor). */
export function entriesJson(entries: readonly DescriptorEntry[]): string {
  return JSON.stringify(entries.map((e) => ({ key: e.key, value: e.value })));
}

type TokenKind = "o" | "a";

/** Opaque keyset token: base64url of `<kind>1:<last id>`; the kind stops cross-list reuse. */
export function encodePageToken(kind: TokenKind, lastId: string): string {
  return Buffer.from(`${kind}1:${lastId}`, "utf8").toString("base64url");
}

/** The last id of the previous page; anything malformed is INVALID_ARGUMENT `page_token`. */
export function decodePageToken(kind: TokenKind, token: string | undefined): string | undefined {
  if (token === undefined || token === "") return undefined;
  const bad = invalidArgument("page_token");
  if (token.length > 64 || !/^[A-Za-z0-9_-]+$/.test(token)) throw bad;
  const text = Buffer.from(token, "base64url").toString("utf8");
  const match = new RegExp(`^${kind}1:([0-9]+)$`).exec(text);
  if (match?.[1] === undefined || !isRowId(match[1])) throw bad;
  if (encodePageToken(kind, match[1]) !== token) throw bad;
  return match[1];
}

/** Rows fetched with one extra: its presence means there is a next page. */
export function toPage<R extends { id: string }, T>(
  rows: readonly R[],
  options: { pageSize: number; kind: TokenKind; map: (row: R) => T },
): Page<T> {
  const items = rows.slice(0, options.pageSize);
  const last = items.at(-1);
  const more = rows.length > options.pageSize && last !== undefined;
  return {
    items: items.map(options.map),
    nextPageToken: more ? encodePageToken(options.kind, last.id) : undefined,
  };
}
