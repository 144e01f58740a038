import { setImmediate as nextTurn } from "node:timers/promises";
import { FloodgateError } from "../../domain/errors.js";
import type { ChainRow } from "./chain-row.js";
import { chainColumns, rowHash } from "./chain-row.js";
import type { Checkpoint } from "./pg-checkpoints.js";
import { checkpointProblem, latestCheckpoint, saveCheckpoint } from "./pg-checkpoints.js";
import type { Db } from "./pg-db.js";
import { rowWithSeal } from "./pg-sealed-rows.js";
import type { VerifyOptions, VerifyResult } from "../types.js";
import { MAX_ROW_ID } from "../types.js";
import type { Broken, Position } from "./verify-checks.js";
import {
  checkRow,
  GENESIS_POSITION,
  HEAD_PROBLEMS,
  HeadExpectation,
  PROBLEMS,
  sealProblem,
} from "./verify-checks.js";

/**
 * VerifyAuditLog (docs/audit-log.md, "Verification"): walks the log in id order from the last
 * checkpoint (or the first row), recomputing every hash, link and seal in TypeScript from column
 * values, and stops at the first broken row.
 */

/**
 * A walk must not hold up ShouldRateLimit (Envoy waits 20 ms) however long the log, so no stretch
 * of it runs long without a turn of the event loop. A batch's rows arrive in one turn (the socket
 * is read until empty, and pg parses every row it holds): 500 rows take about 3 ms to parse here,
 * 2000 took about 10 (docs/audit-log.md, "Verification"). Their checks then run ROWS_PER_TURN at a
 * time, about 1 ms of hashing and HMAC each.
 */
const BATCH = 500;
const ROWS_PER_TURN = 100;
/** A long walk leaves a checkpoint this often, so a cancelled one is not repeated from scratch. */
const CHECKPOINT_EVERY = 100_000;

type WalkItem = { n: string; seal: string | null; key_id: string | null } & (
  ChainRow | { [K in keyof ChainRow]: null }
);

/**
 * One batch after `after`: rows and seals side by side in one statement (one snapshot), so a
 * seal whose row was deleted shows up as an item without a row. The seals' upper bound is a
 * scalar subquery, so it bounds the index scan; as a join filter it did not, and every batch read
 * every seal after it (a walk quadratic in the log's length).
 */
function fetchBatch(db: Db, after: string): Promise<WalkItem[]> {
  return db.query<WalkItem>(
    `with e as (
       select ${chainColumns("t")}, t.id as n from ${db.s}.audit_events t
        where t.id > $1 order by t.id limit $2),
     upper as (select case when count(*) = $2 then max(n) end as n from e),
     k as (
       select s.event_id as n, s.seal, s.key_id from ${db.s}.audit_seals s
        where s.event_id > $1 and s.event_id <= coalesce((select n from upper), ${MAX_ROW_ID})
        order by s.event_id limit $2 + 1)
     select coalesce(e.n, k.n)::text as n, e.id, e.at, e.actor_sub, e.actor_iss, e.actor_jti, e.action,
            e.domain, e.target, e.before, e.after, e.reason, e.request_id, e.prev_hash, e.hash,
            k.seal, k.key_id
       from e full join k on k.n = e.n order by coalesce(e.n, k.n)`,
    [after, BATCH],
  );
}

/**
 * An exported head that lies behind where the walk starts (a checkpoint): its row must still be
 * there with that hash and, with a key, carry a seal that verifies (unless it predates every seal).
 */
async function headBehind(db: Db, head: { id: string; hash: string }): Promise<Broken | undefined> {
  const found = await rowWithSeal(db, head.id);
  if (found === undefined) return { id: head.id, problem: HEAD_PROBLEMS.missing };
  const hash = rowHash(found.row);
  if (found.row.hash !== head.hash || hash !== head.hash)
    return { id: head.id, problem: HEAD_PROBLEMS.changed };
  const keys = db.chainKeys;
  if (keys === undefined) return undefined;
  if (found.stored === undefined)
    return found.prevSeal === undefined ? undefined : { id: head.id, problem: PROBLEMS.unsealed };
  const problem = sealProblem(keys, { row: found.row, hash, stored: found.stored, prevSeal: found.prevSeal });
  return problem === undefined ? undefined : { id: head.id, problem };
}

interface Trust {
  readonly trustedThrough: VerifyResult["trustedThrough"];
  readonly hasSeals: boolean;
}

/** Rows before the first seal were trusted on first use: which, and since when. */
async function trustOf(db: Db): Promise<Trust> {
  const rows = await db.query<{ id: string; adopted: boolean; sealed_at: Date; before_id: string | null }>(
    `select f.event_id::text as id, f.adopted, f.sealed_at,
            (select max(e.id)::text from ${db.s}.audit_events e where e.id < f.event_id) as before_id
       from (select * from ${db.s}.audit_seals order by event_id limit 1) f`,
  );
  const first = rows[0];
  if (first === undefined) return { trustedThrough: undefined, hasSeals: false };
  const id = first.adopted ? first.id : first.before_id;
  return { trustedThrough: id === null ? undefined : { id, at: first.sealed_at }, hasSeals: true };
}

function notesOf(db: Db, trust: Trust): string[] {
  if (db.chainKeys === undefined) {
    return [
      "no AUDIT_CHAIN_KEY_FILE on this replica: " +
        (trust.hasSeals ? "seals were not checked, and " : "") +
        "a rewrite by the database's owner that recomputes the hash chain would not be seen",
    ];
  }
  const through = trust.trustedThrough;
  return through === undefined
    ? []
    : [
        `rows through ${through.id} were written before the chain key sealed the log; they are trusted ` +
          `as they were found at ${through.at.toISOString()} (trust on first use)`,
      ];
}

class Walk {
  checked = 0;
  position: Position;
  broken: Broken | undefined;
  private sinceCheckpoint = 0;
  private firstRowId: string | undefined;
  /** An exported head ahead of the start, met on the way; one behind it is checked on its own. */
  private readonly ahead: HeadExpectation | undefined;

  constructor(
    private readonly db: Db,
    readonly options: VerifyOptions & { start: Position; notes: string[] },
  ) {
    this.position = options.start;
    const head = options.expectHead;
    this.ahead =
      head !== undefined && BigInt(head.id) > BigInt(options.start.id)
        ? new HeadExpectation(head)
        : undefined;
  }

  async run(): Promise<void> {
    const head = this.options.expectHead;
    if (head !== undefined && this.ahead === undefined) this.broken = await headBehind(this.db, head);
    while (this.broken === undefined) {
      await this.stopIfCancelled();
      const items = await fetchBatch(this.db, this.position.id);
      await this.check(items);
      if (this.sinceCheckpoint >= CHECKPOINT_EVERY) await this.checkpoint();
      if (items.length === 0) break;
    }
    this.broken ??= this.ahead?.end(this.position.id) ?? this.noneSealed();
  }

  /** A batch, ROWS_PER_TURN rows at a time, letting the event loop run in between. */
  private async check(items: readonly WalkItem[]): Promise<void> {
    for (let start = 0; start < items.length && this.broken === undefined; start += ROWS_PER_TURN) {
      if (start > 0) await nextTurn();
      for (const item of items.slice(start, start + ROWS_PER_TURN))
        if (this.broken === undefined) this.step(item);
    }
  }

  private step(item: WalkItem): void {
    if (item.id === null) {
      this.broken = { id: item.n, problem: PROBLEMS.orphan };
      return;
    }
    const keys = this.db.chainKeys;
    const stored =
      item.seal === null || item.key_id === null ? undefined : { seal: item.seal, keyId: item.key_id };
    const { problem, next } = checkRow(this.position, { row: item, stored, keys });
    this.checked += 1;
    this.firstRowId ??= item.id;
    if (problem !== undefined) {
      this.broken = { id: item.id, problem };
      return;
    }
    this.position = next;
    this.sinceCheckpoint += 1;
    this.broken = this.ahead?.see(next);
  }

  /** With a key, a log whose rows carry no seal at all is not vouched for. */
  private noneSealed(): Broken | undefined {
    if (this.db.chainKeys === undefined || this.position.seal !== undefined || this.position.id === "0")
      return undefined;
    return { id: this.firstRowId ?? this.position.id, problem: PROBLEMS.noneSealed };
  }

  async checkpoint(): Promise<void> {
    if (this.sinceCheckpoint === 0 || this.broken !== undefined) return;
    try {
      await saveCheckpoint(this.db, this.position);
      this.sinceCheckpoint = 0;
    } catch (error) {
      this.options.notes.push(
        `could not save a checkpoint: ${error instanceof Error ? error.message : "failed"}`,
      );
    }
  }

  private async stopIfCancelled(): Promise<void> {
    if (this.options.signal?.aborted !== true) return;
    await this.checkpoint();
    throw new FloodgateError("UNAVAILABLE", "audit verification cancelled");
  }
}

async function startingPoint(
  db: Db,
  options: VerifyOptions & { notes: string[] },
): Promise<{ checkpoint: Checkpoint | undefined; broken: Broken | undefined }> {
  if (options.full === true) return { checkpoint: undefined, broken: undefined };
  const checkpoint = await latestCheckpoint(db, options.notes);
  if (checkpoint === undefined) return { checkpoint, broken: undefined };
  options.notes.push(
    `continued from checkpoint #${checkpoint.number} (row ${checkpoint.position.id}, ` +
      `${checkpoint.createdAt.toISOString()}); --full walks from the first row`,
  );
  return { checkpoint, broken: await checkpointProblem(db, checkpoint) };
}

export async function verifyChain(db: Db, options: VerifyOptions = {}): Promise<VerifyResult> {
  const trust = await trustOf(db);
  const notes = notesOf(db, trust);
  const { checkpoint, broken } = await startingPoint(db, { ...options, notes });
  const walk = new Walk(db, { ...options, notes, start: checkpoint?.position ?? GENESIS_POSITION });
  if (broken === undefined) await walk.run();
  else walk.broken = broken;
  const ok = walk.broken === undefined;
  if (ok) await walk.checkpoint();
  const head = walk.position;
  return {
    ok,
    checked: walk.checked,
    firstBroken: walk.broken,
    head: ok && head.id !== "0" ? { id: head.id, hash: head.hash } : undefined,
    resumedFrom: checkpoint?.position.id,
    sealsVerified: db.chainKeys !== undefined,
    trustedThrough: db.chainKeys === undefined ? undefined : trust.trustedThrough,
    notes,
  };
}
