/**
 * Integrity of the audit log on a real Postgres (findPostgres), in unique schemas dropped
 * afterwards: the append-only triggers, the hash chain against tampering, and a connection lost
 * in the middle of a write.
 */
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import type { AuditLog } from "../../src/admin/ports.js";
import { sleep } from "../harness/processes.js";
import { LIMIT, asUser, ctx, useAuditFixture, user, noop } from "./support/audit-db.js";

const fx = useAuditFixture();

describe("append-only audit_events", () => {
  beforeAll(async () => {
    const context = ctx("writer");
    await fx.overrides.setOverride({
      domain: "ao",
      entries: user("w"),
      limit: LIMIT,
      expiresAt: undefined,
      context,
    });
    await fx.auditLog.resetBucket({ domain: "ao", entries: user("w"), context }, noop);
  });

  const attempts = (s: string) => [
    `update ${s}.audit_events set reason = 'x'`,
    `delete from ${s}.audit_events`,
    `truncate ${s}.audit_events`,
  ];

  it("rejects UPDATE, DELETE and TRUNCATE as the application role", async () => {
    const app = new pg.Client(fx.appUrl);
    await app.connect();
    try {
      for (const sql of attempts(`"${fx.schema}"`)) await expect(app.query(sql)).rejects.toThrow();
    } finally {
      await app.end();
    }
  });

  it("rejects them in the database even for the table owner (trigger)", async () => {
    for (const sql of attempts(`"${fx.schema}"`))
      await expect(fx.db.query(sql)).rejects.toThrow(/append-only/);
    expect(await fx.auditCount()).toBeGreaterThan(0);
  });

  it("ignores client-supplied id, time and hashes", async () => {
    await fx.db.query(
      `insert into "${fx.schema}".audit_events (id, at, actor_sub, actor_iss, action, prev_hash, hash)
       values (999, '2000-01-01', 'forger', 'x', 'bucket.reset', repeat('a', 64), repeat('b', 64))`,
    );
    const [row] = (await fx.auditLog.listAuditEvents({ actor: "forger", pageSize: 1 })).items;
    expect(row!.id).not.toBe("999");
    expect(row!.at.getFullYear()).toBeGreaterThan(2000);
    expect(row!.hash).not.toBe("b".repeat(64));
    expect(await fx.auditLog.verifyAuditLog()).toMatchObject({ ok: true });
  });
});

describe("hash chain", () => {
  async function chainWithRows(n: number): Promise<{ schema: string; auditLog: AuditLog; ids: string[] }> {
    const tamperSchema = await fx.db.freshSchema();
    const s = await fx.db.connect({ schema: tamperSchema });
    for (let i = 0; i < n; i++)
      await s.auditLog.resetBucket(
        { domain: "chain", entries: user(`c${i}`), context: ctx("chainer") },
        noop,
      );
    const ids = (await s.auditLog.listAuditEvents({ pageSize: 100 })).items.map((e) => e.id).reverse();
    return { schema: tamperSchema, auditLog: s.auditLog, ids };
  }

  async function tamper(s: string, sql: string, params: unknown[]): Promise<void> {
    await fx.db.query(`alter table "${s}".audit_events disable trigger user`);
    try {
      await fx.db.query(sql, params);
    } finally {
      await fx.db.query(`alter table "${s}".audit_events enable trigger user`);
    }
  }

  it("verifies an intact log, written under a non-UTC session time zone", async () => {
    expect(await fx.auditLog.verifyAuditLog({ full: true })).toMatchObject({
      ok: true,
      checked: await fx.auditCount(),
      firstBroken: undefined,
    });
    const first = (
      await fx.db.query<{ prev_hash: string }>(
        `select prev_hash from "${fx.schema}".audit_events order by id limit 1`,
      )
    )[0]!;
    expect(first.prev_hash).toBe("0".repeat(64));
  });

  it("names the row whose content was edited behind the triggers' back", async () => {
    const chain = await chainWithRows(5);
    expect(await chain.auditLog.verifyAuditLog({ full: true })).toMatchObject({ ok: true, checked: 5 });
    await tamper(
      chain.schema,
      `update "${chain.schema}".audit_events set reason = 'nothing to see' where id = $1`,
      [chain.ids[2]],
    );
    const result = await chain.auditLog.verifyAuditLog({ full: true });
    expect(result).toMatchObject({ ok: false, checked: 3, firstBroken: { id: chain.ids[2] } });
    expect(result.firstBroken!.problem).toMatch(/hash mismatch/);
  });

  it("names the row after a deleted one (broken link)", async () => {
    const chain = await chainWithRows(5);
    await tamper(chain.schema, `delete from "${chain.schema}".audit_events where id = $1`, [chain.ids[1]]);
    const result = await chain.auditLog.verifyAuditLog({ full: true });
    expect(result.firstBroken?.id).toBe(chain.ids[2]);
    expect(result.firstBroken!.problem).toMatch(/broken link/);
    expect(result.firstBroken!.problem).not.toMatch(/hash mismatch/);
  });

  it("names the next row when a row is rewritten with a recomputed hash", async () => {
    const chain = await chainWithRows(4);
    const s = `"${chain.schema}"`;
    await tamper(chain.schema, `update ${s}.audit_events set reason = 'rewritten' where id = $1`, [
      chain.ids[1],
    ]);
    await tamper(
      chain.schema,
      `update ${s}.audit_events e set hash = ${s}.audit_event_hash(e) where id = $1`,
      [chain.ids[1]],
    );
    const result = await chain.auditLog.verifyAuditLog({ full: true });
    expect(result.firstBroken).toMatchObject({
      id: chain.ids[2],
      problem: expect.stringMatching(/broken link/),
    });
  });
});

describe("failures", () => {
  it("a connection lost mid-transaction rejects with UNAVAILABLE, writes nothing, and the store recovers", async () => {
    const role = await fx.db.appRole(fx.schema);
    const victim = await fx.db.connect({
      connectionString: asUser(fx.postgres.url, role),
      schema: fx.schema,
    });
    const holder = await fx.db.admin.connect();
    const input = {
      domain: "lost",
      entries: user("l1"),
      limit: LIMIT,
      expiresAt: undefined,
      context: ctx("l"),
    };
    try {
      await holder.query("begin");
      await holder.query(`select "${fx.schema}".audit_lock()`);
      const pending = victim.overrides.setOverride(input).catch((e: unknown) => e);
      let waiting: unknown[] = [];
      for (let i = 0; i < 100 && waiting.length === 0; i++) {
        await sleep(20);
        waiting = await fx.db.query(
          `select pid from pg_stat_activity where usename = $1 and wait_event_type = 'Lock'`,
          [role],
        );
      }
      expect(waiting).toHaveLength(1);
      await fx.db.query(`select pg_terminate_backend(pid) from pg_stat_activity where usename = $1`, [role]);
      expect(await pending).toMatchObject({ code: "UNAVAILABLE", message: "audit store unavailable" });
    } finally {
      await holder.query("rollback");
      holder.release();
    }
    expect(await fx.auditCount(`domain = 'lost'`)).toBe(0);
    await victim.overrides.setOverride(input);
    expect(await fx.auditCount(`domain = 'lost'`)).toBe(1);
  });
});
