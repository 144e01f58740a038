/**
 * What `serve` checks at startup about the audit log (docs/audit-log.md, "Seals" and "Roles"): the
 * chain key file, and a database role that could rewrite the log behind Floodgate's back. Roles and
 * schemas are unique to this run on the shared Postgres and dropped afterwards.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SettingsError } from "../../src/config/settings.js";
import type { AdminFixture } from "./support/admin.js";
import { adminFixture } from "./support/admin.js";
import { asUser, useAuditFixture } from "./support/audit-db.js";
import { startTestServer } from "./support/floodgate.js";

const RULES = {
  "edge.yaml":
    "domain: edge\ndescriptors:\n  - key: user\n    rate_limit: { unit: minute, requests_per_unit: 5 }\n",
};
const RISK = "the database role can rewrite the audit log behind Floodgate's back";

const fx = useAuditFixture();
let admin: AdminFixture;
let dir: string;

beforeAll(async () => {
  admin = await adminFixture(fx.postgres);
  dir = await mkdtemp(join(tmpdir(), "fg-chain-key-"));
});
afterAll(async () => {
  await admin?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function startupLogs(env: Record<string, string>): Promise<Record<string, unknown>[]> {
  const server = await startTestServer({ rules: RULES, memory: true, env: { ...admin.env, ...env } });
  await server.stop();
  return server.logs;
}

describe("serve's database role", () => {
  it("warns when the role owns the audit tables or is a superuser, and not for the application role", async () => {
    const { schema, ownerUrl } = await fx.db.ownedSchema();
    const appUrl = asUser(fx.postgres.url, await fx.db.appRole(schema));
    const warning = (logs: Record<string, unknown>[]) => logs.find((l) => String(l.msg).startsWith(RISK));

    const asOwner = warning(await startupLogs({ DATABASE_URL: ownerUrl, DATABASE_SCHEMA: schema }));
    expect(asOwner).toMatchObject({
      level: 40,
      risks: [`the role owns schema ${schema}`, "the role owns the audit tables"],
    });
    const asSuperuser = warning(
      await startupLogs({ DATABASE_URL: fx.postgres.url, DATABASE_SCHEMA: schema }),
    );
    expect(asSuperuser?.risks).toContain("the role is a superuser");
    expect(warning(await startupLogs({ DATABASE_URL: appUrl, DATABASE_SCHEMA: schema }))).toBeUndefined();
  });
});

describe("AUDIT_CHAIN_KEY_FILE", () => {
  it("stops the start when the file is missing or a key too short, naming the variable and no key", async () => {
    const short = join(dir, "short.key");
    await writeFile(short, "\n# comment\ntoo-short-secret\n");
    for (const [file, reason] of [
      [join(dir, "missing.key"), /cannot read ".*missing\.key" \(ENOENT\)/],
      [short, /the key on line 3 is 16 bytes; at least 32 are needed/],
    ] as const) {
      const failure = await startTestServer({
        rules: RULES,
        memory: true,
        env: { ...admin.env, AUDIT_CHAIN_KEY_FILE: file },
      }).then(
        (server) => server.stop().then(() => undefined),
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(SettingsError);
      expect((failure as Error).message).toMatch(/AUDIT_CHAIN_KEY_FILE: /);
      expect((failure as Error).message).toMatch(reason);
      expect((failure as Error).message).not.toContain("too-short-secret");
    }
  });

  it("seals an existing log on first use at startup, and says so", async () => {
    const { schema } = await fx.db.ownedSchema();
    const appUrl = asUser(fx.postgres.url, await fx.db.appRole(schema));
    const env = { DATABASE_URL: appUrl, DATABASE_SCHEMA: schema };
    await startupLogs(env); // writes the startup rules.reload row, unsealed
    const key = join(dir, "chain.key");
    await writeFile(key, `${"k".repeat(48)}\n`, { mode: 0o600 });
    const logs = await startupLogs({ ...env, AUDIT_CHAIN_KEY_FILE: key });
    expect(
      logs.find((l) => String(l.msg).includes("sealed the existing audit log on first use")),
    ).toMatchObject({
      throughId: "1",
    });
    const seals = await fx.db.query<{ event_id: string; adopted: boolean }>(
      `select event_id::text, adopted from "${schema}".audit_seals order by event_id`,
    );
    expect(seals).toEqual([{ event_id: "1", adopted: true }]);
  });

  it("refuses an admin change whose audit row the database forged, and logs an error naming why", async () => {
    const { schema, ownerUrl } = await fx.db.ownedSchema();
    const appUrl = asUser(fx.postgres.url, await fx.db.appRole(schema));
    const key = join(dir, "refusal.key");
    await writeFile(key, `${"r".repeat(48)}\n`, { mode: 0o600 });
    const server = await startTestServer({
      rules: RULES,
      memory: true,
      env: { ...admin.env, DATABASE_URL: appUrl, DATABASE_SCHEMA: schema, AUDIT_CHAIN_KEY_FILE: key },
    });
    try {
      // As the owner: a trigger that rewrites the reason of every row appended.
      const owner = new pg.Client(ownerUrl);
      await owner.connect();
      try {
        await owner.query(`create or replace function "${schema}".audit_events_chain() returns trigger
          language plpgsql as $fn$
          declare last_hash text;
          begin
            perform "${schema}".audit_lock();
            select e.hash into last_hash from "${schema}".audit_events e order by e.id desc limit 1;
            new.id := nextval('"${schema}".audit_events_id_seq');
            new.at := clock_timestamp();
            new.reason := 'nothing to see';
            new.prev_hash := coalesce(last_hash, repeat('0', 64));
            new.hash := "${schema}".audit_event_hash(new);
            return new;
          end $fn$`);
      } finally {
        await owner.end();
      }
      const client = admin.client(`127.0.0.1:${server.app.grpcPort}`);
      await expect(
        client.call("SetOverride", {
          target: { domain: "edge", entries: [{ key: "user", value: "u" }] },
          limit: { requests_per_unit: 1, unit: 2 },
          reason: "incident 42",
        }),
      ).rejects.toMatchObject({ code: status.UNAVAILABLE });
      expect(server.logs.find((l) => String(l.msg).startsWith("audit append refused"))).toMatchObject({
        level: 50,
        id: expect.stringMatching(/^\d+$/),
        problem: "not the row Floodgate sent: reason differs",
      });
      const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
      // At least this one (the startup's rules-load row may still be retrying, and be refused too).
      const refused = /^floodgate_audit_append_refused_total (\d+)$/m.exec(metrics)?.[1];
      expect(Number(refused)).toBeGreaterThanOrEqual(1);
      const overrides = await fx.db.query(`select 1 from "${schema}".overrides`);
      expect(overrides).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
