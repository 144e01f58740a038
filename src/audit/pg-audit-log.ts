import type pg from "pg";
import type { DescriptorEntry } from "../domain/rules.js";
import type { Db } from "./pg-db.js";
import type { AuditRow } from "./pg-rows.js";
import { AUDIT_COLUMNS, clampPageSize, decodePageToken, toAuditEvent, toPage } from "./pg-rows.js";
import type { AuditEntry, AuditEvent, AuditStore, ChangeContext, Page, VerifyResult } from "./types.js";
import { SYSTEM_ACTOR } from "./types.js";

export const GENESIS_HASH = "0".repeat(64);
const VERIFY_BATCH = 1000;

export type AuditInsert = AuditEntry;

function jsonParam(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

/**
 * Appends one row inside the caller's transaction. id, at, prev_hash and hash are set by the
 * database's insert trigger (under the chain lock, from the database clock), whatever we send.
 */
export async function insertAudit(
  client: pg.ClientBase,
  options: { s: string; event: AuditInsert },
): Promise<string> {
  const { s, event } = options;
  const result = await client.query<{ id: string }>(
    `insert into ${s}.audit_events
       (actor_sub, actor_iss, actor_jti, action, domain, target, before, after, reason, request_id)
     values ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9, $10)
     returning id::text as id`,
    [
      event.actor.sub,
      event.actor.iss,
      event.actor.jti ?? null,
      event.action,
      event.domain ?? null,
      jsonParam(event.target),
      jsonParam(event.before),
      jsonParam(event.after),
      event.reason ?? null,
      event.requestId ?? null,
    ],
  );
  return result.rows[0]?.id ?? "";
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

export async function recordBucketReset(
  db: Db,
  input: { domain: string; entries: readonly DescriptorEntry[]; context: ChangeContext },
): Promise<void> {
  await db.transaction((client) =>
    insertAudit(client, {
      s: db.s,
      event: descriptorChange(input, { action: "bucket.reset", before: undefined, after: undefined }),
    }),
  );
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
      s: db.s,
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
  const pageSize = clampPageSize(query.pageSize);
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

interface VerifyRow {
  id: string;
  prev_hash: string;
  hash: string;
  computed: string;
}

function problemOf(row: VerifyRow, expectedPrev: string): string | undefined {
  const problems: string[] = [];
  if (row.computed !== row.hash)
    problems.push("hash mismatch: the row's content was changed after it was written");
  if (row.prev_hash !== expectedPrev) {
    problems.push(
      expectedPrev === GENESIS_HASH
        ? "broken link: the first row does not start at the genesis hash (rows before it are missing)"
        : "broken link: prev_hash is not the previous row's hash (a row was removed or rewritten)",
    );
  }
  return problems.length === 0 ? undefined : problems.join("; ");
}

/**
 * Recomputes every hash in SQL, in id order, in batches (never the whole table at once), and
 * checks each link. Stops at the first broken row. Rows appended meanwhile are checked too.
 */
export async function verifyAuditLog(db: Db): Promise<VerifyResult> {
  let lastId = "0";
  let expectedPrev = GENESIS_HASH;
  let checked = 0;
  for (;;) {
    const rows = await db.query<VerifyRow>(
      `select id::text as id, prev_hash, hash, ${db.s}.audit_event_hash(e) as computed
         from ${db.s}.audit_events e where e.id > $1 order by e.id limit $2`,
      [lastId, VERIFY_BATCH],
    );
    for (const row of rows) {
      checked += 1;
      const problem = problemOf(row, expectedPrev);
      if (problem !== undefined) return { ok: false, checked, firstBroken: { id: row.id, problem } };
      expectedPrev = row.hash;
      lastId = row.id;
    }
    if (rows.length < VERIFY_BATCH) return { ok: true, checked, firstBroken: undefined };
  }
}
