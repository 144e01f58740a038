import type pg from "pg";
import { sealLink } from "./append-checks.js";
import type { ChainKeys } from "./chain-key.js";
import type { ChainRow } from "./chain-row.js";
import { chainColumns, GENESIS_HASH, rowHash, sealOf } from "./chain-row.js";
import type { Db } from "./pg-db.js";
import { appendState } from "./pg-sealed-rows.js";
import type { ChainReport } from "../types.js";

/**
 * Seals (docs/audit-log.md, "Seals"): written by Floodgate in the transaction of the row they
 * seal, while the chain lock is held, so seals are appended in id order like the rows.
 */

async function insertSeal(
  client: pg.ClientBase,
  options: { s: string; keys: ChainKeys; row: ChainRow; prevSeal: string; adopted: boolean },
): Promise<void> {
  const { s, keys, row, prevSeal, adopted } = options;
  // The hash as Floodgate computes it from the row, not as the database's trigger stored it.
  const seal = sealOf(keys.current, { prevSeal, id: row.id, hash: rowHash(row) });
  await client.query(
    `insert into ${s}.audit_seals (event_id, seal, key_id, adopted) values ($1, $2, $3, $4)`,
    [row.id, seal, keys.current.id, adopted],
  );
}

/**
 * Seals a row just appended, in its transaction (the insert trigger holds the chain lock), once
 * `sealLink` finds it linked to the newest row, whose seal verifies; otherwise the append is
 * refused. The caller has already checked that the row holds what it sent.
 */
export async function sealAppended(client: pg.ClientBase, options: { db: Db; row: ChainRow }): Promise<void> {
  const { db, row } = options;
  if (db.chainKeys === undefined) return;
  const link = sealLink(db.chainKeys, await appendState(client, { s: db.s, appended: row }));
  if ("problem" in link) throw db.refuseAppend({ id: row.id, problem: link.problem });
  await insertSeal(client, { s: db.s, keys: db.chainKeys, row, prevSeal: link.prevSeal, adopted: false });
}

/**
 * Trust on first use: with a key and no seal at all yet, seals the newest row, which vouches for
 * every row before it through the hash chain. Never when some seal exists: an unsealed tail after
 * a seal is what a rewrite looks like, and verification reports it instead.
 */
async function sealOnFirstUse(db: Db, keys: ChainKeys): Promise<{ adopted?: string; unsealedFrom?: string }> {
  return db.transaction(async (client) => {
    await client.query(`select ${db.s}.audit_lock()`);
    const state = await client.query<{ sealed: string | null; first_unsealed: string | null }>(
      `select (select max(event_id)::text from ${db.s}.audit_seals) as sealed,
              (select min(e.id)::text from ${db.s}.audit_events e
                where e.id > coalesce((select max(event_id) from ${db.s}.audit_seals), 0)) as first_unsealed`,
    );
    const { sealed, first_unsealed: firstUnsealed } = state.rows[0] ?? { sealed: null, first_unsealed: null };
    if (sealed !== null) return firstUnsealed === null ? {} : { unsealedFrom: firstUnsealed };
    const head = await client.query<ChainRow>(
      `select ${chainColumns("e")} from ${db.s}.audit_events e order by e.id desc limit 1`,
    );
    const row = head.rows[0];
    if (row === undefined) return {};
    await insertSeal(client, { s: db.s, keys, row, prevSeal: GENESIS_HASH, adopted: true });
    return { adopted: row.id };
  });
}

/** What the connected role could do to the log behind Floodgate's back. */
async function rewriteRisks(db: Db): Promise<string[]> {
  const rows = await db.query<{ superuser: boolean; owns_schema: boolean; owns_tables: boolean }>(
    `select r.rolsuper as superuser,
            pg_catalog.pg_has_role(current_user, n.nspowner, 'MEMBER') as owns_schema,
            exists (select 1 from pg_catalog.pg_class c
                     where c.relnamespace = n.oid and c.relname in ('audit_events', 'audit_seals')
                       and pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER')) as owns_tables
       from pg_catalog.pg_roles r, pg_catalog.pg_namespace n
      where r.rolname = current_user and n.nspname = $1`,
    [db.schema],
  );
  const row = rows[0];
  if (row === undefined) return [];
  return [
    ...(row.superuser ? ["the role is a superuser"] : []),
    ...(row.owns_schema ? [`the role owns schema ${db.schema}`] : []),
    ...(row.owns_tables ? ["the role owns the audit tables"] : []),
  ];
}

/** Once per replica start, after migrations: first-use sealing and what deserves a warning. */
export async function prepareChain(db: Db): Promise<ChainReport> {
  const keys = db.chainKeys;
  const risks = await rewriteRisks(db);
  if (keys === undefined) {
    const sealed = await db.query<{ sealed: boolean }>(
      `select exists (select 1 from ${db.s}.audit_seals) as sealed`,
    );
    return { rewriteRisks: risks, sealedWithoutKey: sealed[0]?.sealed === true };
  }
  const { adopted, unsealedFrom } = await sealOnFirstUse(db, keys);
  return { rewriteRisks: risks, sealedWithoutKey: false, adopted, unsealedFrom };
}
