/**
 * The override repository and the audit log on a real Postgres (findPostgres), in a unique schema dropped
 * afterwards: migrations, overrides with their audit rows, pagination and filters, rules-reload
 * dedupe, expiry exactly once, and propagation by NOTIFY. (Integrity: audit-integrity.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { migrate } from "../../src/admin/postgres/migrations.js";
import { startOverrideSync } from "../../src/admin/override-sync.js";
import type { OverrideRecord } from "../../src/domain/overrides.js";
import { FloodgateError } from "../../src/domain/errors.js";
import { LIMIT, asUser, ctx, uniqueName, useAuditFixture, user, within, noop } from "./support/audit-db.js";

const fx = useAuditFixture();

describe("migrations", () => {
  it("are concurrent-safe and idempotent", async () => {
    const applied = fx.migrations.map((r) => r.applied);
    expect(applied).toContainEqual([1, 2]);
    expect(applied).toContainEqual([]);
    expect(await migrate(fx.db.admin, fx.schema)).toEqual({ applied: [], version: 2 });
    const versions = await fx.db.query(
      `select version from "${fx.schema}".schema_migrations order by version`,
    );
    expect(versions).toEqual([{ version: 1 }, { version: 2 }]);
  });
});

describe("overrides and their audit rows", () => {
  it("set, update and delete write exactly one audit row each, with the right before/after/actor", async () => {
    const before = await fx.auditCount();
    const first = await fx.overrides.setOverride({
      domain: "crud",
      entries: user("u1"),
      limit: LIMIT,
      expiresAt: undefined,
      context: ctx("alice"),
    });
    expect(first).toMatchObject({ domain: "crud", entries: user("u1"), limit: LIMIT, createdBy: "alice" });
    expect(await fx.auditCount()).toBe(before + 1);

    const expiresAt = new Date(Date.now() + 3_600_000);
    const limit = { requestsPerUnit: 5, unit: "second", burst: 8 } as const;
    const second = await fx.overrides.setOverride({
      domain: "crud",
      entries: user("u1"),
      limit,
      expiresAt,
      context: ctx("bob", "raise"),
    });
    expect(second.id).toBe(first.id);
    expect(second).toMatchObject({ limit, expiresAt, createdBy: "bob", reason: "raise" });
    expect(await fx.auditCount()).toBe(before + 2);

    const page = await fx.overrides.listOverrides({ domain: "crud", pageSize: 10 });
    expect(page.items).toEqual([second]);
    expect(await fx.overrides.loadActiveOverrides()).toContainEqual(second);

    const deleted = await fx.overrides.deleteOverride({
      domain: "crud",
      entries: user("u1"),
      context: ctx("carol"),
    });
    expect(deleted).toEqual(second);
    expect(
      await fx.overrides.deleteOverride({ domain: "crud", entries: user("u1"), context: ctx("carol") }),
    ).toBeUndefined();
    expect(await fx.auditCount()).toBe(before + 3);

    const events = (await fx.auditLog.listAuditEvents({ pageSize: 3 })).items;
    expect(events.map((e) => e.action)).toEqual(["override.delete", "override.set", "override.set"]);
    const [del, update, create] = events;
    expect(create!.before).toBeNull();
    expect(create!.after).toMatchObject({
      id: first.id,
      requests_per_unit: 10,
      unit: "minute",
      burst: null,
      expires_at: null,
    });
    expect(create!.actor).toEqual({ sub: "alice", iss: "https://issuer.test", jti: "jti-alice" });
    expect(create!.target).toEqual({ domain: "crud", entries: user("u1") });
    expect(update!.before).toEqual(create!.after);
    expect(update!.after).toMatchObject({
      requests_per_unit: 5,
      burst: 8,
      expires_at: expiresAt.toISOString(),
      created_by: "bob",
    });
    expect(update!.reason).toBe("raise");
    expect(del!.before).toEqual(update!.after);
    expect(del!.after).toBeNull();
    expect(del!.actor.sub).toBe("carol");
    expect(del!.requestId).toMatch(/^req-/);
    expect(del!.at.getTime()).toBeGreaterThanOrEqual(create!.at.getTime());
  });

  it("treats entry order as part of the descriptor and keeps entries in order", async () => {
    const ab = [
      { key: "a", value: "1" },
      { key: "b", value: "2" },
    ];
    const ba = [
      { key: "b", value: "2" },
      { key: "a", value: "1" },
    ];
    const one = await fx.overrides.setOverride({
      domain: "order",
      entries: ab,
      limit: LIMIT,
      expiresAt: undefined,
      context: ctx("alice"),
    });
    const two = await fx.overrides.setOverride({
      domain: "order",
      entries: ba,
      limit: LIMIT,
      expiresAt: undefined,
      context: ctx("alice"),
    });
    expect(one.id).not.toBe(two.id);
    expect(
      (await fx.overrides.listOverrides({ domain: "order", pageSize: 10 })).items.map((o) => o.entries),
    ).toEqual([ab, ba]);
  });

  it("paginates overrides (oldest first) and audit events (newest first) with opaque tokens", async () => {
    for (let i = 0; i < 7; i++) {
      await fx.overrides.setOverride({
        domain: "pages",
        entries: user(`p${i}`),
        limit: LIMIT,
        expiresAt: undefined,
        context: ctx("pager"),
      });
    }
    const seen: OverrideRecord[] = [];
    let token: string | undefined;
    const sizes: number[] = [];
    do {
      const page = await fx.overrides.listOverrides({ domain: "pages", pageSize: 3, pageToken: token });
      sizes.push(page.items.length);
      seen.push(...page.items);
      token = page.nextPageToken;
    } while (token !== undefined);
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen.map((o) => o.entries[0]!.value)).toEqual(["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);

    const events = await fx.auditLog.listAuditEvents({ actor: "pager", pageSize: 4 });
    expect(events.items).toHaveLength(4);
    const rest = await fx.auditLog.listAuditEvents({
      actor: "pager",
      pageSize: 4,
      pageToken: events.nextPageToken,
    });
    expect(rest.items).toHaveLength(3);
    expect(rest.nextPageToken).toBeUndefined();
    const ids = [...events.items, ...rest.items].map((e) => BigInt(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => (a > b ? -1 : 1)));
    expect((await fx.overrides.listOverrides({ domain: "pages", pageSize: 10_000 })).items).toHaveLength(7);
  });

  it("rejects bad page tokens with INVALID_ARGUMENT page_token", async () => {
    const auditToken = (await fx.auditLog.listAuditEvents({ pageSize: 1 })).nextPageToken!;
    for (const pageToken of [
      "x",
      "!!!",
      Buffer.from("o1:-1").toString("base64url"),
      auditToken,
      "a".repeat(100),
    ]) {
      const error = await fx.overrides.listOverrides({ pageSize: 5, pageToken }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FloodgateError);
      expect(error).toMatchObject({ code: "INVALID_ARGUMENT", message: "invalid request: page_token" });
    }
  });

  it("filters audit events by actor, action and time range", async () => {
    const t0 = (await fx.db.query<{ now: Date }>("select clock_timestamp() as now"))[0]!.now;
    await fx.auditLog.resetBucket({ domain: "filters", entries: user("f1"), context: ctx("filterer") }, noop);
    await fx.overrides.setOverride({
      domain: "filters",
      entries: user("f1"),
      limit: LIMIT,
      expiresAt: undefined,
      context: ctx("filterer"),
    });
    const byActor = await fx.auditLog.listAuditEvents({ actor: "filterer", pageSize: 50 });
    expect(byActor.items.map((e) => e.action)).toEqual(["override.set", "bucket.reset"]);
    const resets = await fx.auditLog.listAuditEvents({
      actor: "filterer",
      action: "bucket.reset",
      pageSize: 50,
    });
    expect(resets.items).toHaveLength(1);
    expect(resets.items[0]).toMatchObject({
      domain: "filters",
      before: null,
      after: { result: "done" },
      target: { domain: "filters", entries: user("f1") },
    });
    const since = await fx.auditLog.listAuditEvents({ since: t0, pageSize: 50 });
    expect(since.items.map((e) => e.actor.sub)).toEqual(["filterer", "filterer"]);
    expect((await fx.auditLog.listAuditEvents({ until: t0, actor: "filterer", pageSize: 50 })).items).toEqual(
      [],
    );
  });
});

describe("rules reloads", () => {
  it("are audited as the system actor, once per digest, even from two replicas at once", async () => {
    const other = await fx.db.connect({ connectionString: fx.appUrl, schema: fx.schema });
    const digest = uniqueName("digest");
    const summary = { domains: ["api"], rules: 3 };
    const first = await Promise.all([
      fx.auditLog.recordRulesReload({ digest, summary }),
      other.auditLog.recordRulesReload({ digest, summary }),
    ]);
    expect(first.filter(Boolean)).toHaveLength(1);
    expect(await fx.auditLog.recordRulesReload({ digest, summary })).toBe(false);
    expect(await fx.auditLog.recordRulesReload({ digest: `${digest}-2`, summary })).toBe(true);
    expect(await fx.auditLog.recordRulesReload({ digest, summary })).toBe(true);
    const [last] = (await fx.auditLog.listAuditEvents({ action: "rules.reload", pageSize: 1 })).items;
    expect(last).toMatchObject({
      actor: { sub: "system", iss: "floodgate" },
      target: { digest },
      after: summary,
    });
  });
});

describe("expiry", () => {
  it("deletes expired overrides and audits each exactly once with two stores sweeping", async () => {
    const other = await fx.db.connect({ connectionString: fx.appUrl, schema: fx.schema });
    const past = new Date(Date.now() - 1000);
    for (let i = 0; i < 3; i++) {
      await fx.overrides.setOverride({
        domain: "expiry",
        entries: user(`e${i}`),
        limit: LIMIT,
        expiresAt: past,
        context: ctx("exp"),
      });
    }
    expect((await fx.overrides.listOverrides({ domain: "expiry", pageSize: 10 })).items).toEqual([]);
    const swept = await Promise.all([
      fx.overrides.expireOverrides(),
      other.overrides.expireOverrides(),
      fx.overrides.expireOverrides(),
      other.overrides.expireOverrides(),
    ]);
    const ids = swept.flat().map((r) => r.id);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    expect(
      await fx.auditCount(`action = 'override.expire' and domain = 'expiry' and actor_sub = 'system'`),
    ).toBe(3);
    expect(await fx.overrides.expireOverrides()).toEqual([]);
  });
});

describe("propagation", () => {
  it("a NOTIFY reaches a second store's listener within 1 s, and again after its connection is killed", async () => {
    const role = await fx.db.appRole(fx.schema);
    const other = await fx.db.connect({ connectionString: asUser(fx.postgres.url, role), schema: fx.schema });
    let heard = 0;
    const unsubscribe = await other.overrides.onOverridesChanged(() => heard++);
    await fx.overrides.setOverride({
      domain: "notify",
      entries: user("n1"),
      limit: LIMIT,
      expiresAt: undefined,
      context: ctx("n"),
    });
    expect(await within(1000, () => heard >= 1)).toBeLessThan(1000);

    // Drop the LISTEN connection: the store reconnects and calls the listener (changes may be lost).
    const killed = await fx.db.query(
      `select pg_terminate_backend(pid) from pg_stat_activity where usename = $1`,
      [role],
    );
    expect(killed.length).toBeGreaterThan(0);
    const afterKill = heard;
    await within(3000, () => heard > afterKill);
    const afterReconnect = heard;
    await fx.overrides.deleteOverride({ domain: "notify", entries: user("n1"), context: ctx("n") });
    await within(1000, () => heard > afterReconnect);
    await unsubscribe();
  });

  it("override sync applies a change made through another store within 1 s, and expiries", async () => {
    const other = await fx.db.connect({ connectionString: fx.appUrl, schema: fx.schema });
    let table: OverrideRecord[] = [];
    const errors: unknown[] = [];
    const sync = await startOverrideSync({
      repository: other.overrides,
      apply: (r) => (table = r),
      resyncMs: 60_000,
      onError: (e) => errors.push(e),
      sweepMs: 200,
    });
    try {
      const has = (v: string) => table.some((o) => o.domain === "sync" && o.entries[0]!.value === v);
      await fx.overrides.setOverride({
        domain: "sync",
        entries: user("s1"),
        limit: LIMIT,
        expiresAt: undefined,
        context: ctx("s"),
      });
      expect(await within(1000, () => has("s1"))).toBeLessThan(1000);
      await fx.overrides.setOverride({
        domain: "sync",
        entries: user("s2"),
        limit: LIMIT,
        expiresAt: new Date(Date.now() + 300),
        context: ctx("s"),
      });
      await within(1000, () => has("s2"));
      await within(2000, () => !has("s2"));
      expect(errors).toEqual([]);
    } finally {
      await sync.stop();
    }
    expect(await fx.auditCount(`action = 'override.expire' and domain = 'sync'`)).toBe(1);
  });
});
