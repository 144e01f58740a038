import type pg from "pg";
import type { DescriptorEntry } from "../../domain/rules.js";
import { contentProblem, sentColumns } from "./append-checks.js";
import type { Db } from "./pg-db.js";
import type { AuditRow } from "./pg-rows.js";
import { AUDIT_COLUMNS, decodePageToken, toAuditEvent, toPage } from "./pg-rows.js";
import type { ChainRow } from "./chain-row.js";
import { chainColumns } from "./chain-row.js";
import { sealAppended } from "./pg-seals.js";
import { validatePageSize } from "../admin-input.js";
import type { AuditEntry, AuditEvent, AuditStore, ChangeContext, Page } from "../types.js";
import { SYSTEM_ACTOR } from "../types.js";

export type AuditInsert = AuditEntry;

/**
 * Appends one row inside the caller's transaction, and its seal when a chain key is set. id, at,
 * prev_hash and hash are set by the database's insert trigger (under the chain lock, from the
 * database clock), whatever we send. The trigger lives in the schema, so the row it hands back is
 * checked against what was sent before anything vouches for it (docs/audit-log.md, "Seals").
 */
export async function insertAudit(
  client: pg.ClientBase,
  options: { db: Db; event: AuditInsert },
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

function contextFields(context: ChangeContext): Pick<AuditInsert, "actor" | "reason" | "requestId"> {
  return { actor: context.actor, reason: context.reason, requestId: context.requestId };
}

/** The audit row of an operator's change to one descriptor: an override set or deleted, a reset. */
export function descriptorChange(
  input: { domain: string; entries: readonly DescriptorEntry[]; context: ChangeContext },
  change: Pick<AuditInsert, "action" | "before" | "after">,
): AuditInsert {
  return {
    ...contextFields(input.context),
    ...change,
    domain: input.domain,
    target: descriptorTarget(input.domain, input.entries),
  };
}

/** What a reset's audit row says in `after`: it happened, or it failed and why. */
function resetOutcome(error: unknown): { result: "done" } | { result: "failed"; error: string } {
  if (error === undefined) return { result: "done" };
  return { result: "failed", error: error instanceof Error ? error.message : "reset failed" };
}

/**
 * The chain lock comes first: once it is held the database is reachable, and only then does the
 * reset run. Its row (done or failed) commits after it; a failed reset is rethrown after that.
 */
export async function resetBucket(
  db: Db,
  options: {
    input: { domain: string; entries: readonly DescriptorEntry[]; context: ChangeContext };
    reset: () => Promise<void>;
  },
): Promise<void> {
  const { input, reset } = options;
  const failure = await db.transaction(async (client) => {
    await client.query(`select ${db.s}.audit_lock()`);
    const failed = await reset().then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    await insertAudit(client, {
      db,
      event: descriptorChange(input, {
        action: "bucket.reset",
        before: null,
        after: resetOutcome(failed?.error),
      }),
    });
    return failed;
  });
  if (failure !== undefined) throw failure.error;
}

/** Under the chain lock, so that replicas loading the same files at once audit it only once. */
export function recordRulesReload(db: Db, input: { digest: string; summary: unknown }): Promise<boolean> {
  return db.transaction(async (client) => {
    await client.query(`select ${db.s}.audit_lock()`);
    const last = await client.query<{ digest: string | null }>(
      `select target->>'digest' as digest from ${db.s}.audit_events
        where action = 'rules.reload' order by id desc limit 1`,
    );
    if (last.rows[0]?.digest === input.digest) return false;
    await insertAudit(client, {
      db,
      event: {
        actor: SYSTEM_ACTOR,
        action: "rules.reload",
        domain: undefined,
        target: { digest: input.digest },
        before: undefined,
        after: input.summary,
        reason: "rules loaded",
        requestId: undefined,
      },
    });
    return true;
  });
}

type AuditQuery = Parameters<AuditStore["listAuditEvents"]>[0];

/** Newest first. `since` is inclusive and `until` exclusive; `actor` matches the JWT `sub`. */
export async function listAuditEvents(db: Db, query: AuditQuery): Promise<Page<AuditEvent>> {
  const before = decodePageToken("a", query.pageToken);
  const pageSize = validatePageSize(query.pageSize);
  const rows = await db.query<AuditRow>(
    `select ${AUDIT_COLUMNS} from ${db.s}.audit_events t
      where ($1::timestamptz is null or at >= $1)
        and ($2::timestamptz is null or at < $2)
        and ($3::text is null or actor_sub = $3)
        and ($4::text is null or action = $4)
        and ($5::bigint is null or id < $5)
      order by t.id desc limit $6`,
    [
      query.since ?? null,
      query.until ?? null,
      query.actor ?? null,
      query.action ?? null,
      before ?? null,
      pageSize + 1,
    ],
  );
  return toPage(rows, { pageSize, kind: "a", map: toAuditEvent });
}
