import type { ChainKeys } from "./chain-key.js";
import { hmacHex } from "./chain-key.js";
import { rowHash } from "./chain-row.js";
import type { Db } from "./pg-db.js";
import { rowWithSeal } from "./pg-sealed-rows.js";
import type { Broken, Position } from "./verify-checks.js";

/**
 * Verification checkpoints (docs/audit-log.md, "Checkpoints"): where a walk that found nothing
 * wrong stood. With a key each carries an HMAC, so a forged one is ignored; without, a checkpoint
 * is only as trustworthy as the database that holds it.
 */
export interface Checkpoint {
  readonly number: string;
  readonly position: Position;
  readonly createdAt: Date;
}

interface CheckpointRow {
  number: string;
  event_id: string;
  hash: string;
  seal: string | null;
  key_id: string | null;
  mac: string | null;
  created_at: Date;
}

/** How many recent checkpoints are looked at before walking from the first row. */
const CANDIDATES = 20;

function macOf(db: Db, secret: Buffer, position: Position): string {
  return hmacHex(secret, [
    "floodgate audit checkpoint v1",
    db.schema,
    position.id,
    position.hash,
    position.seal ?? "",
  ]);
}

/**
 * Saves a checkpoint at `position` unless the newest trusted one is already there or further on:
 * a reader that verifies (or cancels) in a loop must not grow the append-only table.
 */
export async function saveCheckpoint(db: Db, position: Position): Promise<void> {
  const newest = await latestCheckpoint(db, []);
  if (newest !== undefined && BigInt(newest.position.id) >= BigInt(position.id)) return;
  const key = db.chainKeys?.current;
  await db.query(
    `insert into ${db.s}.audit_checkpoints (event_id, hash, seal, key_id, mac) values ($1, $2, $3, $4, $5)`,
    [
      position.id,
      position.hash,
      position.seal ?? null,
      key?.id ?? null,
      key === undefined ? null : macOf(db, key.secret, position),
    ],
  );
}

function toCheckpoint(row: CheckpointRow): Checkpoint {
  return {
    number: row.number,
    position: { id: row.event_id, hash: row.hash, seal: row.seal ?? undefined },
    createdAt: row.created_at,
  };
}

function trusted(db: Db, keys: ChainKeys, row: CheckpointRow): boolean {
  const key = row.key_id === null ? undefined : keys.byId.get(row.key_id);
  return key !== undefined && row.mac === macOf(db, key.secret, toCheckpoint(row).position);
}

/**
 * The newest usable checkpoint: with a key, the newest whose HMAC verifies (others are named in
 * `notes`); without, simply the newest.
 */
export async function latestCheckpoint(db: Db, notes: string[]): Promise<Checkpoint | undefined> {
  const rows = await db.query<CheckpointRow>(
    `select id::text as number, event_id::text as event_id, hash, seal, key_id, mac, created_at
       from ${db.s}.audit_checkpoints order by id desc limit ${CANDIDATES}`,
  );
  const keys = db.chainKeys;
  for (const row of rows) {
    if (keys === undefined || trusted(db, keys, row)) return toCheckpoint(row);
    if (row.key_id !== null && keys.byId.has(row.key_id))
      notes.push(`ignored checkpoint #${row.number}: its HMAC does not verify (forged)`);
  }
  return undefined;
}

/**
 * A checkpoint's row must still be there with the hash (and seal) it had: what lies before it
 * is not walked again, except by `--full`.
 */
export async function checkpointProblem(db: Db, checkpoint: Checkpoint): Promise<Broken | undefined> {
  const { id, hash, seal } = checkpoint.position;
  const since = `since checkpoint #${checkpoint.number} (${checkpoint.createdAt.toISOString()})`;
  const found = await rowWithSeal(db, id);
  if (found === undefined) return { id, problem: `row deleted ${since}` };
  if (found.row.hash !== hash || rowHash(found.row) !== hash)
    return { id, problem: `row changed ${since}: the log was rewritten at or before it` };
  if (db.chainKeys !== undefined && found.stored !== undefined && found.stored.seal !== seal)
    return { id, problem: `seal changed ${since}` };
  return undefined;
}
