import { createHash } from "node:crypto";
import type { ChainKey } from "./chain-key.js";
import { hmacHex } from "./chain-key.js";

/**
 * The hash chain computed by Floodgate itself, from column values in a text form that Postgres
 * builtins fix (jsonb::text, to_char in UTC), never through a function that lives in the schema:
 * whoever owns the schema can replace those (docs/audit-log.md, "The hash chain").
 */
export const GENESIS_HASH = "0".repeat(64);

/** One audit row as the verifier reads it: bigint and jsonb as their text, `at` as UTC text. */
export interface ChainRow {
  readonly id: string;
  readonly at: string;
  readonly actor_sub: string;
  readonly actor_iss: string;
  readonly actor_jti: string | null;
  readonly action: string;
  readonly domain: string | null;
  readonly target: string | null;
  readonly before: string | null;
  readonly after: string | null;
  readonly reason: string | null;
  readonly request_id: string | null;
  readonly prev_hash: string;
  readonly hash: string;
}

/** The select list of a ChainRow from `audit_events` aliased `alias`; builtins are schema-qualified. */
export function chainColumns(alias: string): string {
  const e = alias;
  return [
    `${e}.id::text as id`,
    `pg_catalog.to_char(pg_catalog.timezone('UTC', ${e}.at), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at`,
    `${e}.actor_sub, ${e}.actor_iss, ${e}.actor_jti, ${e}.action, ${e}.domain`,
    `${e}.target::text as target, ${e}.before::text as before, ${e}.after::text as after`,
    `${e}.reason, ${e}.request_id, ${e}.prev_hash, ${e}.hash`,
  ].join(", ");
}

const text = (value: string | null): string => (value === null ? "null" : JSON.stringify(value));
const json = (value: string | null): string => value ?? "null";

/**
 * What the database's `audit_event_content` returns, built here: jsonb text puts keys in order of
 * length, then bytewise, with ": " and ", " separators; its string escapes are JSON.stringify's
 * (control characters as \uXXXX in lower case, nothing else beyond `"` and `\`).
 */
export function contentOf(row: ChainRow): string {
  const members: [string, string][] = [
    ["id", row.id],
    ["at", text(row.at)],
    ["actor_sub", text(row.actor_sub)],
    ["actor_iss", text(row.actor_iss)],
    ["actor_jti", text(row.actor_jti)],
    ["action", text(row.action)],
    ["domain", text(row.domain)],
    ["target", json(row.target)],
    ["before", json(row.before)],
    ["after", json(row.after)],
    ["reason", text(row.reason)],
    ["request_id", text(row.request_id)],
    ["prev_hash", text(row.prev_hash)],
  ];
  members.sort(([a], [b]) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  return `{${members.map(([key, value]) => `"${key}": ${value}`).join(", ")}}`;
}

/** sha256(prev_hash || content), hex: the row's hash as it should be stored. */
export function rowHash(row: ChainRow): string {
  return createHash("sha256")
    .update(row.prev_hash + contentOf(row), "utf8")
    .digest("hex");
}

/** A row's seal: an HMAC of its hash, chained to the previous seal (GENESIS_HASH for the first). */
export function sealOf(key: ChainKey, link: { prevSeal: string; id: string; hash: string }): string {
  return hmacHex(key.secret, ["floodgate audit seal v1", link.prevSeal, link.id, link.hash]);
}
