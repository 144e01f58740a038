import { isDeepStrictEqual } from "node:util";
import type { ChainKeys } from "./chain-key.js";
import type { ChainRow } from "./chain-row.js";
import { GENESIS_HASH, rowHash } from "./chain-row.js";
import type { AuditEntry } from "../types.js";
import type { StoredSeal } from "./verify-checks.js";
import { checkRow, GENESIS_POSITION, PROBLEMS, sealProblem } from "./verify-checks.js";

/**
 * What Floodgate checks before it seals a row it just appended (docs/audit-log.md, "Seals"), pure.
 * The row comes back from `INSERT … RETURNING`, shaped by a trigger that lives in the schema, so
 * whoever owns the schema decides what it holds: a seal must only ever cover the row Floodgate
 * sent, linked to a row whose seal verifies, or Floodgate becomes an oracle that seals forgeries.
 */

/** The content columns of an audit row as Floodgate sends them; json columns as JSON text. */
export type SentColumns = Pick<
  ChainRow,
  | "actor_sub"
  | "actor_iss"
  | "actor_jti"
  | "action"
  | "domain"
  | "target"
  | "before"
  | "after"
  | "reason"
  | "request_id"
>;

const JSON_COLUMNS = new Set<keyof SentColumns>(["target", "before", "after"]);

function jsonText(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

export function sentColumns(event: AuditEntry): SentColumns {
  return {
    actor_sub: event.actor.sub,
    actor_iss: event.actor.iss,
    actor_jti: event.actor.jti ?? null,
    action: event.action,
    domain: event.domain ?? null,
    target: jsonText(event.target),
    before: jsonText(event.before),
    after: jsonText(event.after),
    reason: event.reason ?? null,
    request_id: event.requestId ?? null,
  };
}

const parsed = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

/** Names the columns of `row` that differ from what was sent (jsonb compared as parsed JSON). */
export function contentProblem(row: ChainRow, sent: SentColumns): string | undefined {
  const differ = (Object.keys(sent) as (keyof SentColumns)[]).filter((column) =>
    JSON_COLUMNS.has(column)
      ? !isDeepStrictEqual(parsed(row[column]), parsed(sent[column]))
      : row[column] !== sent[column],
  );
  if (differ.length === 0) return undefined;
  return `not the row Floodgate sent: ${differ.join(", ")} ${differ.length === 1 ? "differs" : "differ"}`;
}

/** An audit row as the verifier reads it, with its seal if it has one and the seal before it. */
export interface SealedRow {
  readonly row: ChainRow;
  readonly stored: StoredSeal | undefined;
  /** The newest seal before this row (none: undefined). */
  readonly prevSeal: string | undefined;
}

export interface AppendState {
  readonly appended: ChainRow;
  /** Undefined when the appended row is the only one. */
  readonly before: SealedRow | undefined;
  /** The event_id of the newest seal of all (none: undefined). */
  readonly newestSealId: string | undefined;
}

/** Why a sealed predecessor's seal does not vouch for it: its hash, or the seal itself. */
function predecessorProblem(keys: ChainKeys, before: SealedRow & { stored: StoredSeal }): string | undefined {
  const { row, stored, prevSeal } = before;
  const hash = rowHash(row);
  if (hash !== row.hash) return PROBLEMS.hash;
  return sealProblem(keys, { row, hash, stored, prevSeal });
}

const orphan = (id: string): string => `${PROBLEMS.orphan} (row ${id})`;

/**
 * The seal to chain the appended row to (its predecessor's), or why it must not be sealed: its own
 * hash and link as verification checks them, its place after the newest other row, and that row's
 * seal, the newest of all, verified with the key. With rows but no seal at all, the log awaits
 * first-use sealing, which only a replica's start does (and logs).
 */
export function sealLink(keys: ChainKeys, state: AppendState): { prevSeal: string } | { problem: string } {
  const { appended, before, newestSealId } = state;
  if (before !== undefined && BigInt(appended.id) <= BigInt(before.row.id))
    return { problem: `not the newest row: row ${before.row.id} comes after it` };
  const at =
    before === undefined ? GENESIS_POSITION : { id: before.row.id, hash: before.row.hash, seal: undefined };
  const own = checkRow(at, { row: appended, stored: undefined, keys: undefined }).problem;
  if (own !== undefined) return { problem: own };
  if (before === undefined)
    return newestSealId === undefined ? { prevSeal: GENESIS_HASH } : { problem: orphan(newestSealId) };
  const { stored } = before;
  if (stored === undefined) {
    if (newestSealId === undefined) return { problem: PROBLEMS.noneSealed };
    return { problem: `row ${before.row.id} before it: ${PROBLEMS.unsealed}` };
  }
  if (newestSealId !== before.row.id) return { problem: orphan(newestSealId ?? "?") };
  const problem = predecessorProblem(keys, { ...before, stored });
  return problem === undefined
    ? { prevSeal: stored.seal }
    : { problem: `row ${before.row.id} before it: ${problem}` };
}
