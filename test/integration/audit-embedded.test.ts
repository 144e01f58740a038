/**
 * The embedded default: PGlite in a data directory, served by its socket server, with the same
 * code as Postgres, reached through startDatabaseTarget as `serve` and `migrate` reach it.
 * Migrations, overrides and their audit rows, the chain, local change notifications, the data dir
 * lock, and persistence across a restart.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminDatabase, AdminDatabaseOptions } from "../../src/admin/postgres/admin-database.js";
import { connectAdminDatabase, openAdminDatabase } from "../../src/admin/postgres/admin-database.js";
import type { DatabaseTarget } from "../../src/admin/postgres/database-target.js";
import { startDatabaseTarget } from "../../src/admin/postgres/database-target.js";
import { runMigrations } from "../../src/admin/postgres/migrations.js";
import { startOverrideSync } from "../../src/admin/override-sync.js";
import type { OverrideRecord } from "../../src/domain/overrides.js";
import pg from "pg";
import { parseChainKeys } from "../../src/admin/postgres/chain-key.js";
import type { ChainRow } from "../../src/admin/postgres/chain-row.js";
import { chainTextMismatches, ctx, user, within, writeAwkwardRows } from "./support/audit-db.js";

const KEYS = parseChainKeys("embedded-test-key-".repeat(3));

const LIMIT = { requestsPerUnit: 3, unit: "hour", burst: 5 } as const;
const SCHEMA = "floodgate";

let dir: string;
let dataDir: string;
let target: DatabaseTarget | undefined;
let database: AdminDatabase | undefined;

const settings = () => ({ databaseUrl: undefined, databaseSchema: SCHEMA, adminDataDir: dataDir });

/** PGlite started as `serve` starts it, connected as it asks (one connection, local notifications). */
async function open(options: AdminDatabaseOptions = { schema: SCHEMA }): Promise<AdminDatabase> {
  target = await startDatabaseTarget(settings());
  database = await connectAdminDatabase(target.connection, options);
  return database;
}

async function shut(): Promise<void> {
  await database?.close();
  await target?.stop();
  database = undefined;
  target = undefined;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "fg-pglite-"));
  dataDir = join(dir, "db");
});

afterAll(async () => {
  await shut();
  await rm(dir, { recursive: true, force: true });
});

describe("embedded PGlite", () => {
  it("runs migrations, overrides with audit rows, verification and local notifications", async () => {
    const s = await open();
    expect(target).toMatchObject({
      source: "embedded",
      connection: { pool: { max: 1 }, notifications: "local" },
    });
    let heard = 0;
    await s.overrides.onOverridesChanged(() => heard++);
    const set = await s.overrides.setOverride({
      domain: "e",
      entries: user("a"),
      limit: LIMIT,
      expiresAt: undefined,
      context: ctx("alice"),
    });
    expect(set).toMatchObject({ domain: "e", limit: LIMIT, createdBy: "alice" });
    await within(1000, () => heard === 1);
    // The pool has one connection: concurrent calls queue on it.
    await Promise.all(
      ["b", "c", "d"].map((v) =>
        s.overrides.setOverride({
          domain: "e",
          entries: user(v),
          limit: LIMIT,
          expiresAt: undefined,
          context: ctx("bob"),
        }),
      ),
    );
    expect((await s.overrides.listOverrides({ domain: "e", pageSize: 2 })).items).toHaveLength(2);
    expect(
      await s.overrides.deleteOverride({ domain: "e", entries: user("d"), context: ctx("carol") }),
    ).toMatchObject({
      domain: "e",
    });
    expect(await s.auditLog.recordRulesReload({ digest: "abc", summary: { domains: ["e"] } })).toBe(true);
    expect(await s.auditLog.recordRulesReload({ digest: "abc", summary: { domains: ["e"] } })).toBe(false);
    const events = (await s.auditLog.listAuditEvents({ pageSize: 50 })).items;
    expect(events.map((e) => e.action)).toEqual([
      "rules.reload",
      "override.delete",
      "override.set",
      "override.set",
      "override.set",
      "override.set",
    ]);
    expect(await s.auditLog.verifyAuditLog()).toMatchObject({ ok: true, checked: 6, firstBroken: undefined });
  });

  it("applies changes and expiries through override sync", async () => {
    const s = database!;
    let table: OverrideRecord[] = [];
    const sync = await startOverrideSync({
      repository: s.overrides,
      apply: (r) => (table = r),
      resyncMs: 60_000,
      sweepMs: 200,
      onError: () => undefined,
    });
    try {
      await s.overrides.setOverride({
        domain: "e",
        entries: user("x"),
        limit: LIMIT,
        expiresAt: new Date(Date.now() + 300),
        context: ctx("alice"),
      });
      await within(1000, () => table.some((o) => o.entries[0]!.value === "x"));
      await within(2000, () => !table.some((o) => o.entries[0]!.value === "x"));
    } finally {
      await sync.stop();
    }
    expect((await s.auditLog.listAuditEvents({ action: "override.expire", pageSize: 5 })).items).toHaveLength(
      1,
    );
  });

  it("refuses a second opener of the same data directory", async () => {
    await expect(startDatabaseTarget(settings())).rejects.toMatchObject({
      code: "UNAVAILABLE",
      message: "embedded database in use",
    });
  });

  it("persists across a restart on the same data directory", async () => {
    await shut();
    const migrated = await runMigrations(settings());
    expect(migrated).toEqual({ applied: [], version: 2, target: "embedded" });
    const reopened = await openAdminDatabase(settings());
    const { source } = reopened;
    try {
      expect(source).toBe("embedded");
      const values = (await reopened.overrides.loadActiveOverrides()).map((o) => o.entries[0]!.value);
      expect(values.sort()).toEqual(["a", "b", "c"]);
      expect(await reopened.auditLog.verifyAuditLog({ full: true })).toMatchObject({ ok: true, checked: 8 });
      await reopened.overrides.setOverride({
        domain: "e",
        entries: user("z"),
        limit: LIMIT,
        expiresAt: undefined,
        context: ctx("dave"),
      });
      expect(await reopened.auditLog.verifyAuditLog({ full: true })).toMatchObject({ ok: true, checked: 9 });
    } finally {
      await reopened.close();
    }
  });

  it("seals with the chain key and computes the chain as PGlite's Postgres writes it", async () => {
    const opened = await open({ schema: SCHEMA, chainKeys: KEYS });
    expect(await opened.auditLog.prepareChain()).toMatchObject({ adopted: expect.any(String) });
    await writeAwkwardRows(opened);
    const client = new pg.Client(target!.connection.connectionString);
    await client.connect();
    try {
      expect(
        await chainTextMismatches(
          async (sql) => (await client.query<ChainRow & { db_content: string }>(sql)).rows,
          SCHEMA,
        ),
      ).toEqual([]);
    } finally {
      await client.end();
    }
    expect(await opened.auditLog.verifyAuditLog({ full: true })).toMatchObject({
      ok: true,
      checked: 13,
      sealsVerified: true,
    });
  });
});
