import type pg from "pg";
import type { AppendState, SealedRow } from "./append-checks.js";
import type { ChainRow } from "./chain-row.js";
import { chainColumns } from "./chain-row.js";
import type { Db } from "./pg-db.js";

/** Audit rows read with their seal (if any) and the seal before them, in one statement. */
type SealedRowColumns = ChainRow & { seal: string | null; key_id: string | null; prev_seal: string | null };

/** `rest`: the where clause (and order and limit) over `audit_events e`. */
function sealedRowsSql(s: string, rest: string): string {
  return `select ${chainColumns("e")}, k.seal, k.key_id,
                 (select p.seal from ${s}.audit_seals p where p.event_id < e.id
                   order by p.event_id desc limit 1) as prev_seal
            from ${s}.audit_events e left join ${s}.audit_seals k on k.event_id = e.id
           where ${rest}`;
}

function toSealedRow(found: SealedRowColumns): SealedRow {
  const stored =
    found.seal === null || found.key_id === null ? undefined : { seal: found.seal, keyId: found.key_id };
  return { row: found, stored, prevSeal: found.prev_seal ?? undefined };
}

/** The row of `id`, if it exists. */
export async function rowWithSeal(db: Db, id: string): Promise<SealedRow | undefined> {
  const rows = await db.query<SealedRowColumns>(sealedRowsSql(db.s, "e.id = $1"), [id]);
  const found = rows[0];
  return found === undefined ? undefined : toSealedRow(found);
}

/**
 * In the transaction that appended `appended` (the chain lock is held): the newest other row with
 * its seals, and the newest seal of all, for `sealLink`.
 */
export async function appendState(
  client: pg.ClientBase,
  options: { s: string; appended: ChainRow },
): Promise<AppendState> {
  const { s, appended } = options;
  const result = await client.query<
    { [K in keyof SealedRowColumns]: SealedRowColumns[K] | null } & { newest_seal_id: string | null }
  >(
    `select p.*, (select max(n.event_id)::text from ${s}.audit_seals n) as newest_seal_id
       from (select 1) one
       left join lateral (${sealedRowsSql(s, "e.id <> $1 order by e.id desc limit 1")}) p on true`,
    [appended.id],
  );
  const found = result.rows[0];
  const newestSealId = found?.newest_seal_id ?? undefined;
  if (found === undefined || found.id === null) return { appended, before: undefined, newestSealId };
  return { appended, before: toSealedRow(found as SealedRowColumns), newestSealId };
}
