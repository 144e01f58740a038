import type { ChainKeys } from "./chain-key.js";
import type { ChainRow } from "./chain-row.js";
import { GENESIS_HASH, rowHash, sealOf } from "./chain-row.js";

/**
 * The verifier's rules for one row, pure: the row's hash recomputed from its content, its link to
 * the row before, and with a key its seal (docs/audit-log.md, "Verification").
 */

/** Where a walk stands: the last row verified, and the last seal seen (none yet: undefined). */
export interface Position {
  readonly id: string;
  readonly hash: string;
  readonly seal: string | undefined;
}

export const GENESIS_POSITION: Position = { id: "0", hash: GENESIS_HASH, seal: undefined };

/** A row's seal as stored, if it has one. */
export interface StoredSeal {
  readonly seal: string;
  readonly keyId: string;
}

export const PROBLEMS = {
  hash: "hash mismatch: the row's content was changed after it was written",
  genesis: "broken link: the first row does not start at the genesis hash (rows before it are missing)",
  link: "broken link: prev_hash is not the previous row's hash (a row was removed or rewritten)",
  seal: "seal mismatch: the row, or the chain before it, was changed after it was sealed",
  unsealed:
    "not sealed: written without AUDIT_CHAIN_KEY_FILE (or by an older Floodgate), or its seal was " +
    "removed and the row possibly rewritten",
  orphan: "row deleted: its seal remains but the row does not",
  noneSealed:
    "no row is sealed although AUDIT_CHAIN_KEY_FILE is set: the seals were removed, or no replica " +
    "with the key has started since the key was configured",
  unknownKey: (keyId: string) => `sealed with key ${keyId}, which is not in AUDIT_CHAIN_KEY_FILE`,
} as const;

/** A stored seal against the one `key` would make for `row` (whose hash Floodgate computed). */
export function sealProblem(
  keys: ChainKeys,
  check: { row: ChainRow; hash: string; stored: StoredSeal; prevSeal: string | undefined },
): string | undefined {
  const key = keys.byId.get(check.stored.keyId);
  if (key === undefined) return PROBLEMS.unknownKey(check.stored.keyId);
  const expected = sealOf(key, {
    prevSeal: check.prevSeal ?? GENESIS_HASH,
    id: check.row.id,
    hash: check.hash,
  });
  return expected === check.stored.seal ? undefined : PROBLEMS.seal;
}

/** The problems of `row` after `at` (joined with "; "), and where the walk stands after it. */
export function checkRow(
  at: Position,
  item: { row: ChainRow; stored: StoredSeal | undefined; keys: ChainKeys | undefined },
): { problem: string | undefined; next: Position } {
  const { row, stored, keys } = item;
  const hash = rowHash(row);
  const problems: string[] = [];
  if (hash !== row.hash) problems.push(PROBLEMS.hash);
  if (row.prev_hash !== at.hash) problems.push(at.hash === GENESIS_HASH ? PROBLEMS.genesis : PROBLEMS.link);
  let seal = at.seal;
  if (keys !== undefined && stored !== undefined) {
    const problem = sealProblem(keys, { row, hash, stored, prevSeal: at.seal });
    if (problem !== undefined) problems.push(problem);
    seal = stored.seal;
  } else if (keys !== undefined && at.seal !== undefined) {
    // Before the first seal a row is trusted on first use; after it, every row carries its own.
    problems.push(PROBLEMS.unsealed);
  }
  return {
    problem: problems.length === 0 ? undefined : problems.join("; "),
    next: { id: row.id, hash: row.hash, seal },
  };
}

export const HEAD_PROBLEMS = {
  changed: "not the exported head's hash: the log was rewritten at or before this row",
  missing: "the exported head's row is missing: the log was truncated or rewritten",
  beyond: (lastId: string) =>
    `the exported head is past the end of the log (row ${lastId}): rows were removed from its end`,
} as const;

export interface Broken {
  readonly id: string;
  readonly problem: string;
}

/** `--expect-head ID:HASH`, checked as a walk passes the rows in id order. */
export class HeadExpectation {
  private settled = false;
  private readonly id: bigint;

  constructor(private readonly head: { readonly id: string; readonly hash: string }) {
    this.id = BigInt(head.id);
  }

  get done(): boolean {
    return this.settled;
  }

  /** A row the walk reached (already checked against its own hash); a problem if it settles badly. */
  see(row: { id: string; hash: string }): Broken | undefined {
    if (this.settled) return undefined;
    const id = BigInt(row.id);
    if (id < this.id) return undefined;
    this.settled = true;
    if (id > this.id) return { id: this.head.id, problem: HEAD_PROBLEMS.missing };
    return row.hash === this.head.hash ? undefined : { id: row.id, problem: HEAD_PROBLEMS.changed };
  }

  /** The walk ended after `lastId` without reaching the head. */
  end(lastId: string): Broken | undefined {
    if (this.settled) return undefined;
    this.settled = true;
    return { id: this.head.id, problem: HEAD_PROBLEMS.beyond(lastId) };
  }
}
