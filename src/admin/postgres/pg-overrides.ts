import type pg from "pg";
import type { OverrideRecord } from "../../domain/overrides.js";
import type { DescriptorEntry } from "../../domain/rules.js";
import { descriptorRow, descriptorTarget, insertAudit } from "./pg-append.js";
import type { Db } from "./pg-db.js";
import { NOTIFY_CHANNEL } from "./pg-listen.js";
import type { OverrideRow } from "./pg-rows.js";
import {
  OVERRIDE_COLUMNS,
  decodePageToken,
  entriesJson,
  overrideSnapshot,
  toOverride,
  toPage,
} from "./pg-rows.js";
import type { DescriptorChange, OverrideQuery, SetOverrideInput } from "../ports.js";
import { validatePageSize } from "../admin-input.js";
import type { Page } from "../types.js";
import { SYSTEM_ACTOR } from "../types.js";

/**
 * The override repository's SQL. Every change takes the chain lock and appends its audit row in
 * its own transaction, and sends its NOTIFY there too.
 */

/** Inside the transaction: listeners hear it only if, and when, the change commits. */
async function notifyChange(client: pg.ClientBase, schema: string): Promise<void> {
  await client.query("select pg_notify($1, $2)", [NOTIFY_CHANNEL, schema]);
}

function firstRow(rows: readonly OverrideRow[]): OverrideRecord | undefined {
  const row = rows[0];
  return row === undefined ? undefined : toOverride(row);
}

async function findOverride(
  client: pg.ClientBase,
  options: { s: string; domain: string; entries: readonly DescriptorEntry[] },
): Promise<OverrideRecord | undefined> {
  const result = await client.query<OverrideRow>(
    `select ${OVERRIDE_COLUMNS} from ${options.s}.overrides
      where domain = $1 and descriptor = $2::jsonb::text`,
    [options.domain, entriesJson(options.entries)],
  );
  return firstRow(result.rows);
}

async function upsertOverride(
  client: pg.ClientBase,
  options: { s: string; input: SetOverrideInput },
): Promise<OverrideRecord> {
  const { input } = options;
  const result = await client.query<OverrideRow>(
    `insert into ${options.s}.overrides
       (domain, entries, requests_per_unit, unit, burst, expires_at, reason, created_by)
     values ($1, $2::jsonb, $3, $4, $5, $6, $7, $8)
     on conflict (domain, descriptor) do update set
       requests_per_unit = excluded.requests_per_unit, unit = excluded.unit, burst = excluded.burst,
       expires_at = excluded.expires_at, reason = excluded.reason,
       created_by = excluded.created_by, updated_at = now()
     returning ${OVERRIDE_COLUMNS}`,
    [
      input.domain,
      entriesJson(input.entries),
      input.limit.requestsPerUnit,
      input.limit.unit,
      input.limit.burst ?? null,
      input.expiresAt ?? null,
      input.context.reason,
      input.context.actor.sub,
    ],
  );
  const record = firstRow(result.rows);
  if (record === undefined) throw new Error("upsert returned no row");
  return record;
}

/**
 * Upsert + its audit row + NOTIFY in one transaction. The chain lock is taken first, so that
 * concurrent writers of one descriptor each see the true `before` (and no deadlock with expiry).
 */
export function setOverride(db: Db, input: SetOverrideInput): Promise<OverrideRecord> {
  return db.transaction(async (client) => {
    await client.query(`select ${db.s}.audit_lock()`);
    const previous = await findOverride(client, { s: db.s, domain: input.domain, entries: input.entries });
    const record = await upsertOverride(client, { s: db.s, input });
    await insertAudit(client, {
      db,
      event: descriptorRow(input, {
        action: "override.set",
        before: previous === undefined ? null : overrideSnapshot(previous),
        after: overrideSnapshot(record),
      }),
    });
    await notifyChange(client, db.schema);
    return record;
  });
}

/** Nothing is written (no audit row) when there was no such override. */
export function deleteOverride(db: Db, input: DescriptorChange): Promise<OverrideRecord | undefined> {
  return db.transaction(async (client) => {
    await client.query(`select ${db.s}.audit_lock()`);
    const result = await client.query<OverrideRow>(
      `delete from ${db.s}.overrides where domain = $1 and descriptor = $2::jsonb::text
       returning ${OVERRIDE_COLUMNS}`,
      [input.domain, entriesJson(input.entries)],
    );
    const deleted = firstRow(result.rows);
    if (deleted === undefined) return undefined;
    await insertAudit(client, {
      db,
      event: descriptorRow(input, {
        action: "override.delete",
        before: overrideSnapshot(deleted),
        after: null,
      }),
    });
    await notifyChange(client, db.schema);
    return deleted;
  });
}

function byId(a: OverrideRecord, b: OverrideRecord): number {
  const d = BigInt(a.id) - BigInt(b.id);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/**
 * Deletes what has expired by the database clock, auditing each as the system actor. Replicas
 * may sweep at once: a row deleted by one is not returned to another, so each expiry is audited
 * exactly once. The cheap check first keeps the chain lock free when nothing is due.
 */
export async function expireOverrides(db: Db): Promise<OverrideRecord[]> {
  const due = await db.query<{ due: boolean }>(
    `select exists (select 1 from ${db.s}.overrides where expires_at <= now()) as due`,
  );
  if (due[0]?.due !== true) return [];
  return db.transaction(async (client) => {
    await client.query(`select ${db.s}.audit_lock()`);
    const result = await client.query<OverrideRow>(
      `delete from ${db.s}.overrides where expires_at <= now() returning ${OVERRIDE_COLUMNS}`,
    );
    const expired = result.rows.map(toOverride).sort(byId);
    for (const record of expired) {
      await insertAudit(client, {
        db,
        event: {
          actor: SYSTEM_ACTOR,
          action: "override.expire",
          domain: record.domain,
          target: descriptorTarget(record.domain, record.entries),
          before: overrideSnapshot(record),
          after: null,
          reason: "expired",
          requestId: undefined,
        },
      });
    }
    if (expired.length > 0) await notifyChange(client, db.schema);
    return expired;
  });
}

/** Oldest first; overrides already expired (awaiting the sweep) are left out. */
export async function listOverrides(db: Db, query: OverrideQuery): Promise<Page<OverrideRecord>> {
  const after = decodePageToken("o", query.pageToken);
  const pageSize = validatePageSize(query.pageSize);
  const rows = await db.query<OverrideRow>(
    `select ${OVERRIDE_COLUMNS} from ${db.s}.overrides t
      where ($1::text is null or domain = $1)
        and ($2::bigint is null or id > $2)
        and (expires_at is null or expires_at > now())
      order by t.id limit $3`,
    [query.domain ?? null, after ?? null, pageSize + 1],
  );
  return toPage(rows, { pageSize, kind: "o", map: toOverride });
}

export async function loadActiveOverrides(db: Db): Promise<OverrideRecord[]> {
  const rows = await db.query<OverrideRow>(
    `select ${OVERRIDE_COLUMNS} from ${db.s}.overrides t
      where expires_at is null or expires_at > now() order by t.id`,
  );
  return rows.map(toOverride);
}
