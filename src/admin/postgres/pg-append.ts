import type pg from "pg";
import type { DescriptorEntry } from "../../domain/rules.js";
import { contentProblem, sentColumns } from "./append-checks.js";
import type { ChainRow } from "./chain-row.js";
import { chainColumns } from "./chain-row.js";
import type { Db } from "./pg-db.js";
import { sealAppended } from "./pg-seals.js";
import type { DescriptorChange } from "../ports.js";
import type { AuditEntry, ChangeContext } from "../types.js";

/**
 * The one way a row joins the audit log, shared by the override repository (in the transaction of
 * the change it records) and the audit log's own rows.
 */

/**
 * Appends one row inside the caller's transaction, and its seal when a chain key is set. id, at,
 * prev_hash and hash are set by the database's insert trigger (under the chain lock, from the
 * database clock), whatever we send. The trigger lives in the schema, so the row it hands back is
 * checked against what was sent before anything vouches for it (docs/audit-log.md, "Seals").
 */
export async function insertAudit(
  client: pg.ClientBase,
  options: { db: Db; event: AuditEntry },
): Promise<string> {
  const { db, event } = options;
  const sent = sentColumns(event);
  const result = await client.query<ChainRow>(
    `insert into ${db.s}.audit_events as e
       (actor_sub, actor_iss, actor_jti, action, domain, target, before, after, reason, request_id)
     values ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9, $10)
     returning ${chainColumns("e")}`,
    [
      sent.actor_sub,
      sent.actor_iss,
      sent.actor_jti,
      sent.action,
      sent.domain,
      sent.target,
      sent.before,
      sent.after,
      sent.reason,
      sent.request_id,
    ],
  );
  const row = result.rows[0];
  if (row === undefined) throw db.refuseAppend({ id: "none", problem: "the insert returned no row" });
  const problem = contentProblem(row, sent);
  if (problem !== undefined) throw db.refuseAppend({ id: row.id, problem });
  await sealAppended(client, { db, row });
  return row.id;
}

export function descriptorTarget(domain: string, entries: readonly DescriptorEntry[]): unknown {
  return { domain, entries: entries.map((e) => ({ key: e.key, value: e.value })) };
}

function contextFields(context: ChangeContext): Pick<AuditEntry, "actor" | "reason" | "requestId"> {
  return { actor: context.actor, reason: context.reason, requestId: context.requestId };
}

/** The audit row of an operator's change to one descriptor: an override set or deleted, a reset. */
export function descriptorRow(
  input: DescriptorChange,
  change: Pick<AuditEntry, "action" | "before" | "after">,
): AuditEntry {
  return {
    ...contextFields(input.context),
    ...change,
    domain: input.domain,
    target: descriptorTarget(input.domain, input.entries),
  };
}
