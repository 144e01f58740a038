/**
 * The audit chain against the role that owns its tables (docs/audit-log.md, "Seals"). As that owner
 * (not a superuser; the deploy examples' migrate role): disable the triggers, edit or delete rows,
 * recompute the chain with the database's own function. With AUDIT_CHAIN_KEY_FILE verification
 * names the first broken row; without, it cannot (docs/audit-log.md says so). Each test works in a
 * schema of its own on the shared Postgres, dropped afterwards with its roles.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { describe, expect, it } from "vitest";
import type { ChainKeys } from "../../src/admin/postgres/chain-key.js";
import { parseChainKeys } from "../../src/admin/postgres/chain-key.js";
import type { AdminDatabase } from "../../src/admin/postgres/admin-database.js";
import type { AuditLog } from "../../src/admin/ports.js";
import { migrate, MIGRATIONS } from "../../src/admin/postgres/migrations.js";
import { checkRow, GENESIS_POSITION } from "../../src/admin/postgres/verify-checks.js";
import { appendRows, longestStall, sealAll } from "../harness/audit-rows.js";
import {
  asUser,
  chainTextMismatches,
  ctx,
  noop,
  uniqueName,
  useAuditFixture,
  user,
  writeAwkwardRows,
} from "./support/audit-db.js";

const fx = useAuditFixture();

const newKey = (): string => randomBytes(36).toString("base64");
const KEYS = parseChainKeys(newKey());

const TABLES = ["audit_events", "audit_seals", "audit_checkpoints"];

interface Chain {
  readonly schema: string;
  readonly s: string;
  readonly ownerUrl: string;
  readonly appUrl: string;
  readonly ids: string[];
  /** Connected as the application role, with the key unless `keys: undefined` was asked for. */
  readonly database: AdminDatabase;
  readonly auditLog: AuditLog;
  /** Appends the audit logs refused, as they reported them (logged as errors by `serve`). */
  readonly refusals: { id: string; problem: string }[];
  connectWith(keys: ChainKeys | undefined): Promise<AdminDatabase>;
  append(n: number, database?: AdminDatabase): Promise<void>;
  /** As the owner, in one transaction with the triggers off (they are on again at commit). */
  asOwner(sql: string): Promise<void>;
}

async function chain(
  rows: number,
  options: { keys?: ChainKeys | undefined } = { keys: KEYS },
): Promise<Chain> {
  const { schema, ownerUrl } = await fx.db.ownedSchema();
  const s = `"${schema}"`;
  const appUrl = asUser(fx.postgres.url, await fx.db.appRole(schema));
  const refusals: { id: string; problem: string }[] = [];
  const connectWith = (keys: ChainKeys | undefined) =>
    fx.db.connect({
      connectionString: appUrl,
      schema,
      migrate: false,
      onAppendRefused: (refusal) => refusals.push(refusal),
      ...(keys === undefined ? {} : { chainKeys: keys }),
    });
  const database = await connectWith(options.keys);
  const ids: string[] = [];
  const append = async (n: number, on = database) => {
    for (let i = 0; i < n; i++)
      await on.auditLog.resetBucket(
        { domain: "seal", entries: user(`s${ids.length + i}`), context: ctx("sealer") },
        noop,
      );
    const found = await fx.db.query<{ id: string }>(
      `select id::text as id from ${s}.audit_events order by id`,
    );
    ids.splice(0, ids.length, ...found.map((r) => r.id));
  };
  await append(rows);
  const asOwner = async (sql: string) => {
    const client = new pg.Client(ownerUrl);
    await client.connect();
    try {
      await client.query("begin");
      for (const table of TABLES) await client.query(`alter table ${s}.${table} disable trigger user`);
      await client.query(sql);
      for (const table of TABLES) await client.query(`alter table ${s}.${table} enable trigger user`);
      await client.query("commit");
    } finally {
      await client.end();
    }
  };
  const { auditLog } = database;
  return { schema, s, ownerUrl, appUrl, ids, database, auditLog, refusals, connectWith, append, asOwner };
}

/** Recomputes every prev_hash and hash in id order with the schema's own function, as an owner could. */
function recomputeChain(s: string): string {
  return `do $$
declare
  r record;
  prev text := repeat('0', 64);
begin
  for r in select id from ${s}.audit_events order by id loop
    update ${s}.audit_events e set prev_hash = prev where e.id = r.id;
    update ${s}.audit_events e set hash = ${s}.audit_event_hash(e) where e.id = r.id returning e.hash into prev;
  end loop;
end $$;`;
}

describe("the chain as Floodgate computes it", () => {
  it("matches the database's own content and hash for awkward text and numbers, and verifies", async () => {
    const c = await chain(0);
    await writeAwkwardRows(c.database);
    expect(await chainTextMismatches((sql) => fx.db.query(sql), c.schema)).toEqual([]);
    expect(await c.auditLog.verifyAuditLog()).toMatchObject({ ok: true, checked: 4, sealsVerified: true });
  });

  it("migration 2 applies to a schema at version 1, which keeps its rows and verifies", async () => {
    const schema = uniqueName("fg_v1");
    fx.db.schemas.push(schema);
    const client = new pg.Client(fx.postgres.url);
    await client.connect();
    try {
      await client.query(`create schema "${schema}"`);
      await client.query(
        `create table "${schema}".schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())`,
      );
      await client.query(MIGRATIONS[0]!.sql({ schema, s: `"${schema}"` }));
      await client.query(`insert into "${schema}".schema_migrations (version, name) values (1, 'v1')`);
      await client.query(
        `insert into "${schema}".audit_events (actor_sub, actor_iss, action) values ('old', 'x', 'bucket.reset')`,
      );
      expect(await migrate(client, schema)).toEqual({ applied: [2], version: 2 });
    } finally {
      await client.end();
    }
    const { auditLog } = await fx.db.connect({ schema, chainKeys: KEYS });
    expect(await auditLog.prepareChain()).toMatchObject({ adopted: "1" });
    expect(await auditLog.verifyAuditLog()).toMatchObject({
      ok: true,
      checked: 1,
      trustedThrough: { id: "1" },
    });
  });
});

describe("a rewrite by the tables' owner, chain recomputed with the database's own function", () => {
  it("with the key: an edited row is named", async () => {
    const c = await chain(5);
    expect(await c.auditLog.verifyAuditLog()).toMatchObject({ ok: true, checked: 5, sealsVerified: true });
    await c.asOwner(`update ${c.s}.audit_events set reason = 'nothing happened' where id = ${c.ids[2]};
                     ${recomputeChain(c.s)}`);
    const result = await c.auditLog.verifyAuditLog({ full: true });
    expect(result).toMatchObject({ ok: false, firstBroken: { id: c.ids[2] } });
    expect(result.firstBroken!.problem).toMatch(/^seal mismatch/);
  });

  it("with the key: a row deleted in the middle is named, with or without its seal", async () => {
    const c = await chain(5);
    await c.asOwner(`delete from ${c.s}.audit_events where id = ${c.ids[1]}; ${recomputeChain(c.s)}`);
    expect((await c.auditLog.verifyAuditLog({ full: true })).firstBroken).toEqual({
      id: c.ids[1],
      problem: expect.stringMatching(/^row deleted: its seal remains/),
    });
    await c.asOwner(`delete from ${c.s}.audit_seals where event_id = ${c.ids[1]}`);
    expect((await c.auditLog.verifyAuditLog({ full: true })).firstBroken).toEqual({
      id: c.ids[2],
      problem: expect.stringMatching(/^seal mismatch/),
    });
  });

  it("with the key: rows rewritten after their seals were removed are reported unsealed", async () => {
    const c = await chain(5);
    await c.asOwner(`delete from ${c.s}.audit_seals where event_id >= ${c.ids[3]};
                     update ${c.s}.audit_events set reason = 'rewritten' where id >= ${c.ids[3]};
                     ${recomputeChain(c.s)}`);
    expect((await c.auditLog.verifyAuditLog({ full: true })).firstBroken).toEqual({
      id: c.ids[3],
      problem: expect.stringMatching(/^not sealed/),
    });
    // Floodgate does not seal on top of them: the next append is refused, the gap stays reported.
    await expect(c.append(1)).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(c.refusals[0]?.problem).toMatch(new RegExp(`^row ${c.ids[4]} before it: not sealed`));
    expect((await c.auditLog.verifyAuditLog({ full: true })).firstBroken?.id).toBe(c.ids[3]);
    // Every seal removed: nothing is vouched for until a replica with the key starts again.
    await c.asOwner(`delete from ${c.s}.audit_seals`);
    expect((await c.auditLog.verifyAuditLog({ full: true })).firstBroken).toEqual({
      id: c.ids[0],
      problem: expect.stringMatching(/^no row is sealed/),
    });
  });

  it("without the key: the same rewrite verifies ok (today's behaviour, documented)", async () => {
    const c = await chain(5, { keys: undefined });
    await c.asOwner(`update ${c.s}.audit_events set reason = 'nothing happened' where id = ${c.ids[2]};
                     delete from ${c.s}.audit_events where id = ${c.ids[3]};
                     ${recomputeChain(c.s)}`);
    const result = await c.auditLog.verifyAuditLog({ full: true });
    expect(result).toMatchObject({ ok: true, checked: 4, sealsVerified: false });
    expect(result.notes.join("\n")).toMatch(
      /no AUDIT_CHAIN_KEY_FILE.*recomputes the hash chain would not be seen/,
    );
  });

  it("a key that did not seal a row does not verify it; a rotated file (new key first) does", async () => {
    const c = await chain(2);
    const other = parseChainKeys(newKey());
    const stranger = await c.connectWith(other);
    const result = await stranger.auditLog.verifyAuditLog({ full: true });
    expect(result.firstBroken).toEqual({
      id: c.ids[0],
      problem: `sealed with key ${KEYS.current.id}, which is not in AUDIT_CHAIN_KEY_FILE`,
    });
    // Rotation: the new key first seals new rows; the old one, still listed, verifies the old rows.
    const rotated = parseChainKeys(
      `${newKey()}\n# retired, still verifies\n${KEYS.current.secret.toString()}\n`,
    );
    const rotatedDb = await c.connectWith(rotated);
    await c.append(2, rotatedDb);
    expect(await rotatedDb.auditLog.verifyAuditLog({ full: true })).toMatchObject({ ok: true, checked: 4 });
    const keyIds = await fx.db.query<{ key_id: string }>(
      `select key_id from ${c.s}.audit_seals order by event_id`,
    );
    expect(keyIds.map((k) => k.key_id)).toEqual([
      KEYS.current.id,
      KEYS.current.id,
      rotated.current.id,
      rotated.current.id,
    ]);
  });
});

/**
 * As the owner: replaces the insert trigger's function with one that runs as its owner (as an
 * attacker would, to reach tables the application role cannot read); returns the undo.
 */
async function forgeTrigger(c: Chain, body: string): Promise<() => Promise<void>> {
  const owner = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client(c.ownerUrl);
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  const original = await owner(
    async (client) =>
      (
        await client.query<{ d: string }>(
          `select pg_get_functiondef('${c.s}.audit_events_chain()'::regprocedure) as d`,
        )
      ).rows[0]!.d,
  );
  await owner((client) =>
    client.query(`create or replace function ${c.s}.audit_events_chain() returns trigger
                  language plpgsql security definer as $fn$ ${body} $fn$`),
  );
  return () => owner((client) => client.query(original)).then(() => undefined);
}

/** The genuine trigger's work, then `forgery` (which recomputes the hash itself if it wants to). */
function forgedChain(s: string, forgery: string): string {
  return `
declare last_hash text;
begin
  perform ${s}.audit_lock();
  select e.hash into last_hash from ${s}.audit_events e order by e.id desc limit 1;
  new.id := nextval('${s}.audit_events_id_seq');
  new.at := clock_timestamp();
  new.prev_hash := coalesce(last_hash, repeat('0', 64));
  new.hash := ${s}.audit_event_hash(new);
  ${forgery}
  return new;
end`;
}

const eventIds = async (c: Chain): Promise<string[]> =>
  (await fx.db.query<{ id: string }>(`select id::text as id from ${c.s}.audit_events order by id`)).map(
    (r) => r.id,
  );

describe("Floodgate seals only the row it sent, after a row whose seal verifies", () => {
  it("an owner's trigger that hands back staged rows gets them refused, not sealed (the sealing oracle)", async () => {
    const c = await chain(5);
    const exported = (await c.auditLog.verifyAuditLog({ full: true })).head!;
    const restore = await forgeTrigger(
      c,
      `declare f record; last_hash text;
       begin
         perform ${c.s}.audit_lock();
         select * into f from ${c.s}.forge order by seq limit 1;
         delete from ${c.s}.forge where seq = f.seq;
         select e.hash into last_hash from ${c.s}.audit_events e order by e.id desc limit 1;
         new.id := f.id; new.at := f.at; new.actor_sub := f.actor_sub; new.actor_iss := f.actor_iss;
         new.actor_jti := f.actor_jti; new.action := f.action; new.domain := f.domain;
         new.target := f.target; new.before := f.before; new.after := f.after; new.reason := f.reason;
         new.request_id := f.request_id;
         new.prev_hash := coalesce(last_hash, repeat('0', 64));
         new.hash := ${c.s}.audit_event_hash(new);
         return new;
       end`,
    );
    // Rows 3.. staged with a changed reason, then removed with their seals.
    await c.asOwner(`
      create table ${c.s}.forge (seq serial, id bigint, at timestamptz, actor_sub text, actor_iss text,
        actor_jti text, action text, domain text, target jsonb, before jsonb, after jsonb, reason text,
        request_id text);
      insert into ${c.s}.forge (id, at, actor_sub, actor_iss, actor_jti, action, domain, target, before,
                                after, reason, request_id)
        select id, at, actor_sub, actor_iss, actor_jti, action, domain, target, before, after,
               case when id = ${c.ids[2]} then 'NOTHING HAPPENED' else reason end, request_id
          from ${c.s}.audit_events where id >= ${c.ids[2]} order by id;
      delete from ${c.s}.audit_seals where event_id >= ${c.ids[2]};
      delete from ${c.s}.audit_events where id >= ${c.ids[2]};
      -- three overrides already expired: the replica's own expiry sweep will append three rows
      insert into ${c.s}.overrides (domain, entries, requests_per_unit, unit, expires_at, reason, created_by)
        select 'd', jsonb_build_array(jsonb_build_object('key', 'k', 'value', 'v' || g)), 1, 'second',
               now() - interval '1 minute', 'x', 'x' from generate_series(1, 3) g;`);
    // The periodic sweep (override-sync.ts) of a replica with the key: refused, nothing sealed.
    await expect(c.database.overrides.expireOverrides()).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(c.refusals).toEqual([
      { id: c.ids[2], problem: expect.stringMatching(/^not the row Floodgate sent: .*\breason\b/) },
    ]);
    expect(await eventIds(c)).toEqual(c.ids.slice(0, 2));
    await restore();
    await c.asOwner(`drop table ${c.s}.forge`);

    // What remains undetectable without an exported head (docs/audit-log.md, "Append-only, and
    // its limits"): the tail removed, and genuine rows appended after it.
    expect((await c.database.overrides.expireOverrides()).length).toBe(3);
    expect(await c.auditLog.verifyAuditLog({ full: true })).toMatchObject({ ok: true, checked: 5 });
    expect((await c.auditLog.verifyAuditLog({ expectHead: exported })).firstBroken).toEqual({
      id: exported.id,
      problem: expect.stringMatching(/^the exported head's row is missing/),
    });
  });

  it.each([
    [
      "content",
      "new.reason := 'nothing happened'; new.hash := %s.audit_event_hash(new);",
      /^not the row Floodgate sent: reason/,
    ],
    ["link", "new.prev_hash := repeat('a', 64); new.hash := %s.audit_event_hash(new);", /^broken link/],
    ["hash", "new.hash := repeat('b', 64);", /^hash mismatch/],
  ])("refuses a row whose %s the trigger forged, and logs why", async (_what, forgery, problem) => {
    const c = await chain(3);
    const restore = await forgeTrigger(c, forgedChain(c.s, forgery.replaceAll("%s", c.s)));
    await expect(c.append(1)).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(c.refusals).toEqual([
      { id: expect.stringMatching(/^\d+$/), problem: expect.stringMatching(problem) },
    ]);
    expect(await eventIds(c)).toEqual(c.ids.slice(0, 3));
    await restore();
    await c.append(1);
    expect(await c.auditLog.verifyAuditLog({ full: true })).toMatchObject({ ok: true, checked: 4 });
  });

  it("refuses a row given an id before the newest (a removed row's place, with its seal gone)", async () => {
    const c = await chain(3);
    await c.asOwner(`delete from ${c.s}.audit_events where id = ${c.ids[1]};
                     delete from ${c.s}.audit_seals where event_id = ${c.ids[1]}`);
    const restore = await forgeTrigger(
      c,
      forgedChain(c.s, `new.id := ${c.ids[1]}; new.hash := ${c.s}.audit_event_hash(new);`),
    );
    await expect(c.append(1)).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(c.refusals).toEqual([
      { id: c.ids[1], problem: expect.stringMatching(/^not the newest row: row \d+ comes after it/) },
    ]);
    await restore();
  });

  it("refuses to seal after a row whose seal does not verify", async () => {
    const c = await chain(3);
    await c.asOwner(`update ${c.s}.audit_events set reason = 'rewritten' where id = ${c.ids[2]};
                     ${recomputeChain(c.s)}`);
    await expect(c.append(1)).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(c.refusals).toEqual([
      {
        id: expect.any(String),
        problem: expect.stringMatching(new RegExp(`^row ${c.ids[2]} before it: seal mismatch`)),
      },
    ]);
  });

  it("refuses to seal while a seal remains past the newest row (the tail's rows deleted, not their seals)", async () => {
    const c = await chain(3);
    await c.asOwner(`delete from ${c.s}.audit_events where id = ${c.ids[2]}`);
    await expect(c.append(1)).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(c.refusals[0]?.problem).toMatch(/^row deleted: .*seal/);
  });

  it("with rows but no seal at all, appends wait for first-use sealing at startup", async () => {
    const c = await chain(2, { keys: undefined });
    const keyed = await c.connectWith(KEYS);
    await expect(c.append(1, keyed)).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(c.refusals[0]?.problem).toMatch(/^no row is sealed/);
    expect(await keyed.auditLog.prepareChain()).toMatchObject({ adopted: c.ids[1] });
    await c.append(1, keyed);
    expect(await keyed.auditLog.verifyAuditLog({ full: true })).toMatchObject({ ok: true, checked: 3 });
  });
});

describe("trust on first use", () => {
  it("a replica with the key seals an unsealed log once, and says what it trusted", async () => {
    const c = await chain(3, { keys: undefined });
    const keyed = await c.connectWith(KEYS);
    expect((await keyed.auditLog.verifyAuditLog({ full: true })).firstBroken?.problem).toMatch(
      /^no row is sealed/,
    );
    expect(await keyed.auditLog.prepareChain()).toMatchObject({ adopted: c.ids[2], sealedWithoutKey: false });
    expect(await keyed.auditLog.prepareChain()).toMatchObject({
      adopted: undefined,
      unsealedFrom: undefined,
    });
    await c.append(1, keyed);
    const result = await keyed.auditLog.verifyAuditLog({ full: true });
    expect(result).toMatchObject({ ok: true, checked: 4, trustedThrough: { id: c.ids[2] } });
    expect(result.notes.join("\n")).toMatch(/trust on first use/);
    // A replica without the key now writes a row that is not sealed: reported, by both.
    expect(await c.auditLog.prepareChain()).toMatchObject({ sealedWithoutKey: true });
    await c.append(1, c.database);
    expect((await keyed.auditLog.verifyAuditLog({ full: true })).firstBroken).toEqual({
      id: c.ids[4],
      problem: expect.stringMatching(/^not sealed/),
    });
    expect(await keyed.auditLog.prepareChain()).toMatchObject({ adopted: undefined, unsealedFrom: c.ids[4] });
  });
});

describe("--expect-head", () => {
  it("detects a truncated tail, with and without the key", async () => {
    for (const keys of [KEYS, undefined]) {
      const c = await chain(4, { keys });
      const exported = (await c.auditLog.verifyAuditLog()).head!;
      expect(exported).toEqual({ id: c.ids[3], hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(await c.auditLog.verifyAuditLog({ expectHead: exported })).toMatchObject({ ok: true });
      await c.asOwner(`delete from ${c.s}.audit_events where id >= ${c.ids[2]};
                       delete from ${c.s}.audit_seals where event_id >= ${c.ids[2]};
                       delete from ${c.s}.audit_checkpoints`);
      expect(await c.auditLog.verifyAuditLog()).toMatchObject({ ok: true, checked: 2 }); // a shorter log looks fine
      expect(await c.auditLog.verifyAuditLog({ expectHead: exported })).toMatchObject({
        ok: false,
        head: undefined,
        firstBroken: { id: exported.id, problem: expect.stringMatching(/past the end of the log/) },
      });
    }
  });

  it("detects a head rewritten behind the checkpoint, and a deleted one", async () => {
    const c = await chain(2, { keys: undefined });
    const exported = (await c.auditLog.verifyAuditLog()).head!;
    await c.append(2);
    expect(await c.auditLog.verifyAuditLog({ expectHead: exported })).toMatchObject({
      ok: true,
      resumedFrom: exported.id,
    });
    // Rewritten with its own hash recomputed: the walk from the checkpoint never reaches it.
    await c.asOwner(`update ${c.s}.audit_events e set reason = 'other' where id = ${exported.id};
                     update ${c.s}.audit_events e set hash = ${c.s}.audit_event_hash(e) where id = ${exported.id}`);
    expect(await c.auditLog.verifyAuditLog()).toMatchObject({ ok: true });
    expect((await c.auditLog.verifyAuditLog({ expectHead: exported })).firstBroken).toEqual({
      id: exported.id,
      problem: expect.stringMatching(/^not the exported head's hash/),
    });
    await c.asOwner(`delete from ${c.s}.audit_events where id = ${exported.id}`);
    expect((await c.auditLog.verifyAuditLog({ expectHead: exported })).firstBroken?.problem).toMatch(
      /missing/,
    );
  });
});

describe("checkpoints", () => {
  it("a second verification continues from the checkpoint; --full still catches an edit before it", async () => {
    const c = await chain(3);
    expect(await c.auditLog.verifyAuditLog()).toMatchObject({ ok: true, checked: 3, resumedFrom: undefined });
    await c.append(2);
    expect(await c.auditLog.verifyAuditLog()).toMatchObject({ ok: true, checked: 2, resumedFrom: c.ids[2] });
    // An edit that leaves every stored hash alone, before the checkpoint: only a full walk sees it.
    await c.asOwner(`update ${c.s}.audit_events set reason = 'quiet edit' where id = ${c.ids[1]}`);
    expect(await c.auditLog.verifyAuditLog()).toMatchObject({ ok: true, checked: 0, resumedFrom: c.ids[4] });
    expect(await c.auditLog.verifyAuditLog({ full: true })).toMatchObject({
      ok: false,
      firstBroken: { id: c.ids[1], problem: expect.stringMatching(/^hash mismatch/) },
    });
    // Recomputing the chain from there changes the checkpoint's row: caught without --full.
    await c.asOwner(recomputeChain(c.s));
    expect((await c.auditLog.verifyAuditLog()).firstBroken).toEqual({
      id: c.ids[4],
      problem: expect.stringMatching(/^row changed since checkpoint #\d+/),
    });
  });

  it("with the key, a checkpoint whose HMAC does not verify is ignored", async () => {
    const c = await chain(3);
    const app = new pg.Client(c.appUrl);
    await app.connect();
    try {
      const head = (await c.auditLog.verifyAuditLog({ full: true })).head!;
      await app.query(
        `insert into ${c.s}.audit_checkpoints (event_id, hash, key_id, mac) values ($1, $2, $3, $4)`,
        [head.id, head.hash, KEYS.current.id, "f".repeat(64)],
      );
    } finally {
      await app.end();
    }
    const result = await c.auditLog.verifyAuditLog();
    expect(result).toMatchObject({ ok: true, resumedFrom: c.ids[2] });
    expect(result.notes.join("\n")).toMatch(/ignored checkpoint #\d+: its HMAC does not verify/);
  });
});

describe("checkpoints, bounded", () => {
  const checkpoints = async (c: Chain) =>
    (
      await fx.db.query<{ event_id: string; trusted: boolean }>(
        `select event_id::text, mac <> $1 as trusted from ${c.s}.audit_checkpoints order by id`,
        ["f".repeat(64)],
      )
    ).map((r) => `${r.event_id}${r.trusted ? "" : " forged"}`);
  /** Cancelled as soon as the walk has asked once (after its first batch). */
  const cancelledAfterOneBatch = (): AbortSignal => {
    let asked = 0;
    return {
      get aborted() {
        return ++asked > 1;
      },
    } as AbortSignal;
  };

  it("saves one only past the newest trusted one, however often a reader verifies or cancels", async () => {
    const c = await chain(3);
    for (let i = 0; i < 4; i++) {
      expect(await c.auditLog.verifyAuditLog({ full: true })).toMatchObject({ ok: true });
      expect(await c.auditLog.verifyAuditLog()).toMatchObject({ ok: true });
      await expect(
        c.auditLog.verifyAuditLog({ full: true, signal: cancelledAfterOneBatch() }),
      ).rejects.toMatchObject({ message: "audit verification cancelled" });
    }
    expect(await checkpoints(c)).toEqual([c.ids[2]]);
    await c.append(2);
    expect(await c.auditLog.verifyAuditLog({ full: true })).toMatchObject({ ok: true });
    expect(await c.auditLog.verifyAuditLog({ full: true })).toMatchObject({ ok: true });
    expect(await checkpoints(c)).toEqual([c.ids[2], c.ids[4]]);
  });

  it("is not kept from saving one by a forged checkpoint further on", async () => {
    const c = await chain(3);
    expect(await c.auditLog.verifyAuditLog()).toMatchObject({ ok: true });
    await c.append(2);
    const app = new pg.Client(c.appUrl);
    await app.connect();
    try {
      await app.query(
        `insert into ${c.s}.audit_checkpoints (event_id, hash, key_id, mac)
         select id, hash, $1, $2 from ${c.s}.audit_events order by id desc limit 1`,
        [KEYS.current.id, "f".repeat(64)],
      );
    } finally {
      await app.end();
    }
    expect(await c.auditLog.verifyAuditLog()).toMatchObject({ ok: true, resumedFrom: c.ids[2], checked: 2 });
    expect(await checkpoints(c)).toEqual([c.ids[2], `${c.ids[4]} forged`, c.ids[4]]);
  });
});

describe("one verification at a time, and cancellation", () => {
  it("refuses a second concurrent call on the same audit log", async () => {
    const c = await chain(2);
    const [first, second] = await Promise.allSettled([
      c.auditLog.verifyAuditLog(),
      c.auditLog.verifyAuditLog(),
    ]);
    expect(first).toMatchObject({ status: "fulfilled", value: { ok: true } });
    expect(second).toMatchObject({
      status: "rejected",
      reason: { code: "UNAVAILABLE", message: expect.stringMatching(/already running on this replica/) },
    });
    expect(await c.auditLog.verifyAuditLog()).toMatchObject({ ok: true }); // the slot is free again
  });

  it("yields to the event loop while it walks: no stall near what one batch's rows take at once", async () => {
    const c = await chain(0);
    await appendRows(fx.db.admin, c.s, 4000);
    const sealed = await sealAll(fx.db.admin, c.s, KEYS);
    // The walk's per-row work on 2000 rows (a batch before the fix) in one synchronous run, the
    // shortest of three: the walk blocked at least this long per batch.
    const batch = sealed.slice(0, 2000);
    const batchMs = Math.min(
      ...[1, 2, 3].map(() => {
        const started = performance.now();
        let at = GENESIS_POSITION;
        for (const { row, seal } of batch)
          at = checkRow(at, { row, stored: { seal, keyId: KEYS.current.id }, keys: KEYS }).next;
        return performance.now() - started;
      }),
    );
    // Noise (another process, a garbage collection) only lengthens a stall: the shortest of five
    // walks counts. Before, every batch blocked for longer than the loop above took.
    const stalls: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { probeMs } = await longestStall(async () => {
        expect(await c.auditLog.verifyAuditLog({ full: true })).toMatchObject({ ok: true, checked: 4000 });
      });
      stalls.push(probeMs);
    }
    expect(Math.min(...stalls)).toBeLessThan(batchMs);
  });

  it("stops between batches when cancelled, leaving a checkpoint the next call continues from", async () => {
    const c = await chain(1, { keys: undefined });
    await fx.db.query(
      `insert into ${c.s}.audit_events (actor_sub, actor_iss, action) select 'bulk', 'x', 'bucket.reset' from generate_series(1, 5000)`,
    );
    // Aborted once the walk has asked twice (after its first batch of rows).
    let asked = 0;
    const signal = {
      get aborted() {
        return ++asked > 1;
      },
    } as AbortSignal;
    await expect(c.auditLog.verifyAuditLog({ signal })).rejects.toMatchObject({
      code: "UNAVAILABLE",
      message: "audit verification cancelled",
    });
    const checkpoint = await fx.db.query<{ event_id: string }>(
      `select event_id::text from ${c.s}.audit_checkpoints`,
    );
    expect(checkpoint).toHaveLength(1);
    const next = await c.auditLog.verifyAuditLog();
    expect(next).toMatchObject({
      ok: true,
      resumedFrom: checkpoint[0]!.event_id,
      checked: 5001 - Number(checkpoint[0]!.event_id),
    });
  });
});
