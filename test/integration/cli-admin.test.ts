import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../harness/floodgate-process.js";
import type { AdminFixture } from "./support/admin.js";
import { adminFixture, AUDIENCE, ISSUER } from "./support/admin.js";
import type { TestServer } from "./support/floodgate.js";
import { startTestServer } from "./support/floodgate.js";

// The operator flow of the README, through the built CLI (make test builds before vitest).
const floodgate = runCli;

describe("floodgate admin CLI", () => {
  let fixture: AdminFixture;
  let server: TestServer;
  let env: Record<string, string>;

  /** `floodgate admin token` for the test key, without `--ttl`. */
  const tokenArgs = () => [
    "admin",
    "token",
    "--private-key",
    fixture.privateKeyFile,
    "--kid",
    "test-key",
    "--issuer",
    ISSUER,
    "--audience",
    AUDIENCE,
    "--subject",
    "carol@ops",
  ];

  /** `floodgate admin token`, as an operator runs it before each write. */
  async function mint(): Promise<string> {
    const minted = await floodgate([...tokenArgs(), "--ttl", "5m"]);
    expect(minted.err).toBe("");
    return minted.out.trim();
  }

  beforeAll(async () => {
    fixture = await adminFixture();
    server = await startTestServer({
      rules: { "api.yaml": "domain: api\n" },
      env: fixture.env,
      memory: true,
    });
    env = { FLOODGATE_SERVER: `127.0.0.1:${server.app.grpcPort}`, FLOODGATE_TOKEN: await mint() };
  });
  afterAll(async () => {
    await server.stop();
    await fixture.cleanup();
  });

  it("mints a token, sets and lists an override, and verifies the audit log", async () => {
    const set = await floodgate(
      [
        "admin",
        "override",
        "set",
        "--user",
        "dave",
        "--rpu",
        "5",
        "--unit",
        "minute",
        "--reason",
        "cli test",
      ],
      env,
    );
    expect(set.err).toBe("");
    expect(JSON.parse(set.out)).toMatchObject({
      override: { created_by: "carol@ops", limit: { requests_per_unit: 5 } },
    });
    const list = JSON.parse((await floodgate(["admin", "override", "list"], env)).out) as {
      overrides: unknown[];
    };
    expect(list.overrides).toHaveLength(1);
    const bucket = JSON.parse((await floodgate(["admin", "bucket", "get", "--user", "dave"], env)).out) as {
      overridden: boolean;
    };
    expect(bucket.overridden).toBe(true);
    const audit = JSON.parse((await floodgate(["admin", "audit"], env)).out) as {
      events: { action: string }[];
    };
    expect(audit.events[0]!.action).toBe("override.set");
    expect(JSON.parse((await floodgate(["admin", "audit", "--verify"], env)).out)).toMatchObject({
      ok: true,
    });
  });

  it("makes one write per token: the same FLOODGATE_TOKEN cannot write twice, but can read", async () => {
    const fresh = { ...env, FLOODGATE_TOKEN: await mint() };
    const reset = ["admin", "bucket", "reset", "--user", "erin", "--reason", "cli replay test"];
    expect(await floodgate(reset, fresh)).toMatchObject({ code: 0, err: "" });
    const again = await floodgate(reset, fresh);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/unauthenticated \(gRPC code 16\)/);
    expect(await floodgate(["admin", "override", "list"], fresh)).toMatchObject({ code: 0 });
    expect(await floodgate(reset, { ...env, FLOODGATE_TOKEN: await mint() })).toMatchObject({ code: 0 });
  });

  it("verifies against an exported head, in full when asked", async () => {
    const first = JSON.parse((await floodgate(["admin", "audit", "--verify"], env)).out) as {
      head_id: string;
      head_hash: string;
    };
    expect(first.head_hash).toMatch(/^[0-9a-f]{64}$/);
    const head = `${first.head_id}:${first.head_hash}`;
    const again = await floodgate(["admin", "audit", "--verify", "--full", "--expect-head", head], env);
    expect(JSON.parse(again.out)).toMatchObject({ ok: true, head_id: first.head_id, resumed_from_id: "" });
    const wrong = await floodgate(
      ["admin", "audit", "--verify", "--expect-head", `${first.head_id}:${"0".repeat(64)}`],
      env,
    );
    expect(JSON.parse(wrong.out)).toMatchObject({ ok: false, first_broken_id: first.head_id });
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(new RegExp(`^floodgate: audit log chain broken at row ${first.head_id}: `));
    const malformed = await floodgate(["admin", "audit", "--verify", "--expect-head", "12"], env);
    expect(malformed.code).toBe(2);
    expect(malformed.err).toMatch(/--expect-head must be ID:HASH/);
  });

  it("refuses stray words after an admin command instead of ignoring them", async () => {
    for (const args of [
      ["admin", "audit", "verify"],
      ["admin", "override", "list", "extra"],
      ["admin", "bucket", "get", "--user", "dave", "extra"],
      ["admin", "jwks", "--public-key", "k.pem", "extra"],
    ]) {
      const res = await floodgate(args, env);
      expect(res, args.join(" ")).toMatchObject({ code: 2, out: "" });
      expect(res.err, args.join(" ")).toMatch(/^floodgate: unexpected argument "(verify|extra)"/);
    }
    const hint = await floodgate(["admin", "audit", "verify"], env);
    expect(hint.err).toMatch(/unexpected argument "verify" \(did you mean --verify\?\)/);
  });

  it("warns when --ttl exceeds ADMIN_JWT_MAX_LIFETIME_S, and still mints the token", async () => {
    const args = tokenArgs();
    const long = await floodgate([...args, "--ttl", "2h"]);
    expect(long.code).toBe(0);
    expect(long.err).toBe(
      "floodgate: warning: --ttl 2h is 7200 s, above ADMIN_JWT_MAX_LIFETIME_S (3600 s, the default): " +
        "a server with that maximum refuses this token as unauthenticated (reason lifetime)\n",
    );
    // The warning is right: this server keeps the default maximum and refuses the token.
    const refused = await floodgate(["admin", "override", "list"], {
      ...env,
      FLOODGATE_TOKEN: long.out.trim(),
    });
    expect(refused).toMatchObject({ code: 1, err: expect.stringMatching(/unauthenticated/) });
    const allowed = await floodgate([...args, "--ttl", "2h"], { ADMIN_JWT_MAX_LIFETIME_S: "7200" });
    expect(allowed).toMatchObject({ code: 0, err: "" });
    const lower = await floodgate(args, { ADMIN_JWT_MAX_LIFETIME_S: "600" });
    expect(lower.code).toBe(0);
    expect(lower.err).toMatch(
      /^floodgate: warning: --ttl 15m \(the default\) is 900 s, above ADMIN_JWT_MAX_LIFETIME_S \(600 s\)/,
    );
    const invalid = await floodgate(args, { ADMIN_JWT_MAX_LIFETIME_S: "soon" });
    expect(invalid).toMatchObject({ code: 2, out: "" });
    expect(invalid.err).toMatch(/^floodgate: invalid settings: ADMIN_JWT_MAX_LIFETIME_S: /);
  });

  it("explains usage errors and refused calls plainly", async () => {
    const usage = await floodgate(
      ["admin", "override", "set", "--user", "x", "--unit", "minute", "--reason", "r"],
      env,
    );
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/--rpu is required/);
    const refused = await floodgate(["admin", "override", "list"], { ...env, FLOODGATE_TOKEN: "garbage" });
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/unauthenticated \(gRPC code 16\)/);
  });

  it("applies the migrations with floodgate migrate", async () => {
    const schema = `${fixture.schema}_m`;
    try {
      const res = await floodgate(["migrate"], {
        DATABASE_URL: fixture.databaseUrl,
        DATABASE_SCHEMA: schema,
      });
      expect(res.err).toBe("");
      expect(res.code).toBe(0);
      const rows = await fixture.query<{ n: string }>(
        `select count(*) as n from ${schema}.schema_migrations`,
      );
      expect(Number(rows[0]!.n)).toBeGreaterThan(0);
    } finally {
      await fixture.query(`drop schema if exists ${schema} cascade`);
    }
  });

  it("grants the application role what serve needs with migrate --grant-to, and nothing to rewrite with", async () => {
    const schema = `${fixture.schema}_g`;
    const role = `${fixture.schema}_app`;
    await fixture.query(`create role ${role}`);
    try {
      const env = { DATABASE_URL: fixture.databaseUrl, DATABASE_SCHEMA: schema };
      const res = await floodgate(["migrate", "--grant-to", role], env);
      expect(res.err).toBe("");
      const can = async (table: string, privilege: string) =>
        (
          await fixture.query<{ ok: boolean }>(`select has_table_privilege($1, $2, $3) as ok`, [
            role,
            `${schema}.${table}`,
            privilege,
          ])
        )[0]!.ok;
      for (const table of ["audit_events", "audit_seals", "audit_checkpoints"]) {
        expect(await can(table, "INSERT")).toBe(true);
        for (const privilege of ["UPDATE", "DELETE", "TRUNCATE"])
          expect(await can(table, privilege)).toBe(false);
      }
      expect(await can("overrides", "UPDATE")).toBe(true);
      const bad = await floodgate(["migrate", "--grant-to", 'x"; drop table y; --'], env);
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(
        /^floodgate: --grant-to must be a role name: lower-case letters, digits and _ only\n/,
      );
      expect(bad.err).not.toMatch(/fatal|\n\s+at /);
    } finally {
      await fixture.query(`drop schema if exists ${schema} cascade`);
      await fixture.query(`drop role ${role}`);
    }
  });

  it("explains migrate --grant-to without DATABASE_URL as a settings problem, not a crash", async () => {
    const res = await floodgate(["migrate", "--grant-to", "floodgate_app"], {
      ADMIN_DATA_DIR: "/nonexistent/fg",
    });
    expect(res.code).toBe(2);
    expect(res.err).toMatch(
      /^floodgate: invalid settings: DATABASE_URL: migrate --grant-to needs a real Postgres/,
    );
    expect(res.err).not.toMatch(/fatal|\n\s+at /);
  });
});

describe("floodgate admin audit --verify on a tampered log", () => {
  let fixture: AdminFixture;
  let server: TestServer;

  beforeAll(async () => {
    fixture = await adminFixture();
    server = await startTestServer({
      rules: { "api.yaml": "domain: api\n" },
      env: fixture.env,
      memory: true,
    });
  });
  afterAll(async () => {
    await server?.stop();
    await fixture?.cleanup();
  });

  it("exits 1, names the broken row and its problem on stderr, and keeps the JSON on stdout", async () => {
    const address = `127.0.0.1:${server.app.grpcPort}`;
    const admin = fixture.client(address);
    for (const user of ["t1", "t2", "t3"])
      await admin.call("ResetBucket", { target: { user_id: user }, reason: "before tampering" });
    const env = { FLOODGATE_SERVER: address, FLOODGATE_TOKEN: await fixture.token() };
    expect(await floodgate(["admin", "audit", "--verify"], env)).toMatchObject({ code: 0, err: "" });

    const events = `${fixture.schema}.audit_events`;
    const [row] = await fixture.query<{ id: string }>(
      `select id::text as id from ${events} where reason = 'before tampering' order by id offset 1 limit 1`,
    );
    // As the table's owner, behind the append-only triggers' back (docs/audit-log.md).
    await fixture.query(`alter table ${events} disable trigger user`);
    try {
      await fixture.query(`update ${events} set reason = 'nothing to see' where id = $1`, [row!.id]);
    } finally {
      await fixture.query(`alter table ${events} enable trigger user`);
    }

    const broken = await floodgate(["admin", "audit", "--verify", "--full"], env);
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.out)).toMatchObject({
      ok: false,
      first_broken_id: row!.id,
      problem: expect.stringMatching(/hash mismatch/),
    });
    expect(broken.err).toMatch(
      new RegExp(`^floodgate: audit log chain broken at row ${row!.id}: hash mismatch`),
    );
  });
});
