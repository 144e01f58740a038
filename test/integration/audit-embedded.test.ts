/**
 * The embedded default: PGlite in a data directory, served by its socket server, with the same
 * store code as Postgres. Migrations, overrides and their audit rows, the chain, local change
 * notifications, the data dir lock, and persistence across a restart.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbeddedPostgres } from "../../src/admin/postgres/embedded.js";
import { startEmbeddedPostgres } from "../../src/admin/postgres/embedded.js";
import { runMigrations } from "../../src/admin/postgres/migrations.js";
import { openAuditStore } from "../../src/admin/postgres/open.js";
import { startOverrideSync } from "../../src/admin/override-sync.js";
import { createPgAuditStore } from "../../src/admin/postgres/pg-audit-store.js";
import type { AuditStore, OverrideRecord } from "../../src/admin/types.js";
import pg from "pg";
import { parseChainKeys } from "../../src/admin/postgres/chain-key.js";
import type { ChainRow } from "../../src/admin/postgres/chain-row.js";
import { chainTextMismatches, ctx, user, within, writeAwkwardRows } from "./support/audit-db.js";

const KEYS = parseChainKeys("embedded-test-key-".repeat(3));

const LIMIT = { requestsPerUnit: 3, unit: "hour", burst: 5 } as const;
const SCHEMA = "floodgate";

let dir: string;
let dataDir: string;
let embedded: EmbeddedPostgres | undefined;
let store: AuditStore | undefined;

/** Without embedded.storeOptions: the store must recognise the embedded server by itself. */
async function open(): Promise<AuditStore> {
  embedded = await startEmbeddedPostgres({ dataDir });
  store = await createPgAuditStore({
    connectionString: embedded.connectionString,
    schema: SCHEMA,
  });
  return store;
}

async function shut(): Promise<void> {
  await store?.close();
  await embedded?.stop();
  store = undefined;
  embedded = undefined;
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
    let heard = 0;
    await s.onOverridesChanged(() => heard++);
    const set = await s.setOverride({
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
        s.setOverride({
          domain: "e",
          entries: user(v),
          limit: LIMIT,
          expiresAt: undefined,
          context: ctx("bob"),
        }),
      ),
    );
    expect((await s.listOverrides({ domain: "e", pageSize: 2 })).items).toHaveLength(2);
    expect(await s.deleteOverride({ domain: "e", entries: user("d"), context: ctx("carol") })).toMatchObject({
      domain: "e",
    });
    expect(await s.recordRulesReload({ digest: "abc", summary: { domains: ["e"] } })).toBe(true);
    expect(await s.recordRulesReload({ digest: "abc", summary: { domains: ["e"] } })).toBe(false);
    const events = (await s.listAuditEvents({ pageSize: 50 })).items;
    expect(events.map((e) => e.action)).toEqual([
      "rules.reload",
      "override.delete",
      "override.set",
      "override.set",
      "override.set",
      "override.set",
    ]);
    expect(await s.verifyAuditLog()).toMatchObject({ ok: true, checked: 6, firstBroken: undefined });
  });

  it("applies changes and expiries through override sync", async () => {
    const s = store!;
    let table: OverrideRecord[] = [];
    const sync = await startOverrideSync({
      store: s,
      apply: (r) => (table = r),
      resyncMs: 60_000,
      sweepMs: 200,
      onError: () => undefined,
    });
    try {
      await s.setOverride({
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
    expect((await s.listAuditEvents({ action: "override.expire", pageSize: 5 })).items).toHaveLength(1);
  });

  it("refuses a second opener of the same data directory", async () => {
    await expect(startEmbeddedPostgres({ dataDir })).rejects.toMatchObject({
      code: "UNAVAILABLE",
      message: "embedded database in use",
    });
  });

  it("persists across a restart on the same data directory", async () => {
    await shut();
    const migrated = await runMigrations({
      databaseUrl: undefined,
      databaseSchema: SCHEMA,
      adminDataDir: dataDir,
    });
    expect(migrated).toEqual({ applied: [], version: 2, target: "embedded" });
    const { store: reopened, source } = await openAuditStore({
      settings: { databaseUrl: undefined, databaseSchema: SCHEMA, adminDataDir: dataDir },
    });
    try {
      expect(source).toBe("embedded");
      const values = (await reopened.loadActiveOverrides()).map((o) => o.entries[0]!.value);
      expect(values.sort()).toEqual(["a", "b", "c"]);
      expect(await reopened.verifyAuditLog({ full: true })).toMatchObject({ ok: true, checked: 8 });
      await reopened.setOverride({
        domain: "e",
        entries: user("z"),
        limit: LIMIT,
        expiresAt: undefined,
        context: ctx("dave"),
      });
      expect(await reopened.verifyAuditLog({ full: true })).toMatchObject({ ok: true, checked: 9 });
    } finally {
      await reopened.close();
    }
  });

  it("seals with the chain key and computes the chain as PGlite's Postgres writes it", async () => {
    embedded = await startEmbeddedPostgres({ dataDir });
    store = await createPgAuditStore({
      connectionString: embedded.connectionString,
      schema: SCHEMA,
      chainKeys: KEYS,
    });
    expect(await store.prepareChain()).toMatchObject({ adopted: expect.any(String) });
    await writeAwkwardRows(store);
    const client = new pg.Client(embedded.connectionString);
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
    expect(await store.verifyAuditLog({ full: true })).toMatchObject({
      ok: true,
      checked: 13,
      sealsVerified: true,
    });
  });
});
