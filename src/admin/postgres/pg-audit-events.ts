import { descriptorRow, insertAudit } from "./pg-append.js";
import type { Db } from "./pg-db.js";
import type { AuditRow } from "./pg-rows.js";
import { AUDIT_COLUMNS, decodePageToken, toAuditEvent, toPage } from "./pg-rows.js";
import type { AuditQuery, DescriptorChange } from "../ports.js";
import { validatePageSize } from "../admin-input.js";
import type { AuditEvent, Page } from "../types.js";
import { SYSTEM_ACTOR } from "../types.js";

/** The audit log's own rows (resets, rules loads) and its listing; the SQL behind PgAuditLog. */

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
    input: DescriptorChange;
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
      event: descriptorRow(input, {
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
