/**
 * Postgres stopped under a running store (a PRIVATE instance; never the shared one): admin writes
 * fail fast with UNAVAILABLE and write nothing, the override table keeps its last state, and once
 * Postgres is back the same store works again and the table catches up.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminDatabase } from "../../src/admin/postgres/admin-database.js";
import { connectAdminDatabase } from "../../src/admin/postgres/admin-database.js";
import type { OverrideSync } from "../../src/admin/override-sync.js";
import { startOverrideSync } from "../../src/admin/override-sync.js";
import type { OverrideRecord } from "../../src/domain/overrides.js";
import { FloodgateError } from "../../src/domain/errors.js";
import type { PrivatePostgres } from "../harness/postgres.js";
import { startLocalPostgres } from "../harness/postgres.js";
import { sleep } from "../harness/processes.js";
import { ctx, user, within, noop } from "./support/audit-db.js";

const LIMIT = { requestsPerUnit: 1, unit: "second", burst: undefined } as const;
const PASSWORD = "s3cret-never-logged";

let postgres: PrivatePostgres;
let database: AdminDatabase;
let sync: OverrideSync;
let table: OverrideRecord[] = [];
const errors: unknown[] = [];

const inTable = (id: string) => table.some((o) => o.entries[0]!.value === id);

beforeAll(async () => {
  postgres = await startLocalPostgres();
  const url = new URL(postgres.url);
  url.password = PASSWORD; // trust auth ignores it; it must still never show up in an error
  database = await connectAdminDatabase(
    { connectionString: url.toString(), pool: { max: 2 }, notifications: "listen" },
    { schema: "floodgate", onError: (e) => errors.push(e) },
  );
  sync = await startOverrideSync({
    repository: database.overrides,
    apply: (records) => (table = records),
    resyncMs: 300,
    sweepMs: 200,
    onError: (e) => errors.push(e),
  });
});

afterAll(async () => {
  await sync?.stop();
  await database?.close();
  await postgres?.stop();
});

describe("with Postgres stopped", () => {
  it("fails admin writes fast with UNAVAILABLE, writes nothing, and recovers without a new store", async () => {
    await database.overrides.setOverride({
      domain: "d",
      entries: user("before"),
      limit: LIMIT,
      expiresAt: undefined,
      context: ctx("ops"),
    });
    await within(1000, () => inTable("before"));

    await postgres.stopServer();
    const started = Date.now();
    const error = await database.overrides
      .setOverride({
        domain: "d",
        entries: user("during"),
        limit: LIMIT,
        expiresAt: undefined,
        context: ctx("ops"),
      })
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error).toBeInstanceOf(FloodgateError);
    expect(error).toMatchObject({ code: "UNAVAILABLE", message: "audit store unavailable" });
    expect((error as FloodgateError).detail).toBeTruthy();
    expect((error as FloodgateError).detail).not.toContain(PASSWORD);
    for (const call of [
      () => database.overrides.deleteOverride({ domain: "d", entries: user("before"), context: ctx("ops") }),
      () =>
        database.auditLog.resetBucket({ domain: "d", entries: user("before"), context: ctx("ops") }, noop),
      () => database.auditLog.listAuditEvents({ pageSize: 10 }),
    ]) {
      await expect(call()).rejects.toMatchObject({ code: "UNAVAILABLE" });
    }

    // The in-memory table keeps its last state through resyncs and sweeps that fail.
    const errorsBefore = errors.length;
    await sleep(700);
    expect(errors.length).toBeGreaterThan(errorsBefore);
    expect(errors.every((e) => !String((e as FloodgateError).detail).includes(PASSWORD))).toBe(true);
    expect(inTable("before")).toBe(true);

    await postgres.startServer();
    await database.overrides.setOverride({
      domain: "d",
      entries: user("after"),
      limit: LIMIT,
      expiresAt: undefined,
      context: ctx("ops"),
    });
    await within(2000, () => inTable("after"));
    expect(inTable("before")).toBe(true);

    const events = (await database.auditLog.listAuditEvents({ pageSize: 50 })).items;
    expect(events.map((e) => `${e.action} ${JSON.stringify(e.target)}`)).toEqual([
      `override.set ${JSON.stringify({ domain: "d", entries: user("after") })}`,
      `override.set ${JSON.stringify({ domain: "d", entries: user("before") })}`,
    ]);
    expect(await database.auditLog.verifyAuditLog()).toMatchObject({ ok: true, checked: 2 });
  });
});
