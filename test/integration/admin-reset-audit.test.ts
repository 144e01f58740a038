/**
 * ResetBucket and its audit row (docs/audit-log.md, "Bucket resets"), on a real Postgres (the
 * application role) and a real in-process bucket store whose reset a test can make fail. The audit
 * log must never claim a reset that did not happen, and no reset may happen while its row cannot be
 * written.
 */
import { describe, expect, it } from "vitest";
import type { AdminDatabase } from "../../src/admin/postgres/admin-database.js";
import { connectAdminDatabase } from "../../src/admin/postgres/admin-database.js";
import type { AuditAction } from "../../src/admin/types.js";
import type { BucketId } from "../../src/domain/bucket.js";
import { loadRulesFromText } from "../fixtures/rules-text.js";
import { createAdminService } from "../../src/admin/admin-service.js";
import { OverrideTable } from "../../src/admin/override-table.js";
import { createMemoryStore } from "../../src/store/local/memory-store.js";
import { freePort } from "../harness/processes.js";
import { asUser, useAuditFixture } from "./support/audit-db.js";

const fx = useAuditFixture();

const EDGE = loadRulesFromText(
  "edge.yaml",
  "domain: edge\ndescriptors:\n  - key: user\n    rate_limit: { unit: minute, requests_per_unit: 5 }\n",
);
const ctx = {
  principal: { sub: "ops", iss: "https://issuer.test", jti: "jti-1", scopes: new Set(["floodgate:admin"]) },
  requestId: "req-1",
};

function service(database: AdminDatabase, options: { failReset?: () => Promise<void> } = {}) {
  const memory = createMemoryStore({ maxBuckets: 100 });
  const resets: BucketId[] = [];
  const audited: AuditAction[] = [];
  const admin = createAdminService({
    overrideRepository: database.overrides,
    auditLog: database.auditLog,
    store: {
      peek: (bucket) => memory.peek(bucket),
      reset: async (bucket) => {
        resets.push(bucket);
        await options.failReset?.();
        await memory.reset(bucket);
      },
    },
    rules: { current: () => ({ domains: new Map([["edge", EDGE]]), digest: "d", ruleCount: 1 }) },
    overrides: new OverrideTable(),
    checkLimitDomain: "api",
    now: Date.now,
    onAudit: (action) => audited.push(action),
  });
  const reset = (user: string) =>
    admin.resetBucket(ctx, {
      target: { domain: "edge", entries: [{ key: "user", value: user }], userId: "", endpoint: "" },
      reason: "ticket 7",
    });
  return { reset, resets, audited };
}

const resetRows = (user: string) =>
  fx.db.query<{ after: unknown }>(
    `select after from "${fx.schema}".audit_events
      where action = 'bucket.reset' and target->'entries'->0->>'value' = $1 order by id`,
    [user],
  );

describe("ResetBucket and its audit row", () => {
  it("records a reset that ran as done", async () => {
    const s = service(fx.database);
    await s.reset("done-user");
    expect(s.resets).toEqual([{ domain: "edge", entries: [{ key: "user", value: "done-user" }] }]);
    expect(await resetRows("done-user")).toEqual([{ after: { result: "done" } }]);
    expect(s.audited).toEqual(["bucket.reset"]);
  });

  it("records a reset whose store call fails as failed, and the caller gets the error", async () => {
    const s = service(fx.database, {
      failReset: () => Promise.reject(new Error("connection reset by peer")),
    });
    await expect(s.reset("failing-user")).rejects.toMatchObject({
      code: "UNAVAILABLE",
      message: "rate limit store unavailable",
    });
    expect(s.resets).toHaveLength(1);
    expect(await resetRows("failing-user")).toEqual([
      { after: { result: "failed", error: "rate limit store unavailable" } },
    ]);
    expect(s.audited).toEqual(["bucket.reset"]);
  });

  it("does not reset while the database is unreachable", async () => {
    const down = `postgres://nobody@127.0.0.1:${await freePort()}/none`;
    const audit = await connectAdminDatabase(
      { connectionString: down, notifications: "listen" },
      { schema: "floodgate", migrate: false },
    );
    try {
      const s = service(audit);
      await expect(s.reset("unreached-user")).rejects.toMatchObject({
        code: "UNAVAILABLE",
        message: "audit store unavailable",
      });
      expect(s.resets).toEqual([]);
      expect(s.audited).toEqual([]);
    } finally {
      await audit.close();
    }
  });

  it("says so in the logged detail when the row is lost after a reset that ran (the window left)", async () => {
    const role = await fx.db.appRole(fx.schema);
    const audit = await fx.db.connect({ connectionString: asUser(fx.postgres.url, role), schema: fx.schema });
    // The database connection dies while the reset runs: the reset is done, its row is not.
    const s = service(audit, {
      failReset: async () => {
        await fx.db.query("select pg_terminate_backend(pid) from pg_stat_activity where usename = $1", [
          role,
        ]);
      },
    });
    await expect(s.reset("window-user")).rejects.toMatchObject({
      code: "UNAVAILABLE",
      message: "audit store unavailable",
      detail: expect.stringMatching(/^bucket reset done, its audit row not confirmed/),
    });
    expect(s.resets).toHaveLength(1);
    expect(await resetRows("window-user")).toEqual([]);
  });
});
