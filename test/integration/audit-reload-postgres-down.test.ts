/**
 * A rules change takes effect while Postgres is stopped (docs/audit-log.md, "Rules reloads"). The
 * Postgres is a PRIVATE instance this test starts and stops, never the shared one. Its audit row is
 * kept while the database is down (floodgate_audit_pending shows it) and written exactly once when
 * the database is back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PrivatePostgres } from "../harness/postgres.js";
import { startLocalPostgres } from "../harness/postgres.js";
import type { AdminFixture } from "./support/admin.js";
import { adminFixture } from "./support/admin.js";
import type { ProtoResponse, TestServer } from "./support/floodgate.js";
import { call, rlsRequest, startTestServer } from "./support/floodgate.js";
import { within } from "./support/audit-db.js";

const rulesWith = (rpm: number) => `
domain: edge
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: ${rpm} }
`;

let postgres: PrivatePostgres;
let fixture: AdminFixture;
let server: TestServer;

beforeAll(async () => {
  postgres = await startLocalPostgres();
  fixture = await adminFixture(postgres);
  server = await startTestServer({ rules: { "edge.yaml": rulesWith(10) }, env: fixture.env, memory: true });
});

afterAll(async () => {
  await server?.stop();
  await fixture?.cleanup();
  await postgres?.stop();
});

const reloadRows = (digest: string) =>
  fixture.query<{ n: string }>(
    `select count(*)::text as n from ${fixture.schema}.audit_events
      where action = 'rules.reload' and target->>'digest' = $1`,
    [digest],
  );

const pending = async () => (await server.app.metrics.auditPending.get()).values[0]?.value;

describe("a rules reload while Postgres is down", () => {
  it("takes effect, stays pending, and is audited exactly once when Postgres returns", async () => {
    const first = server.app.rules.current().digest;
    let rows: { n: string }[] = [];
    const poll = async (digest: string, check: (n: number) => boolean, ms: number) => {
      const end = Date.now() + ms;
      for (;;) {
        rows = await reloadRows(digest).catch(() => []);
        if (rows[0] !== undefined && check(Number(rows[0].n))) return;
        if (Date.now() > end) throw new Error(`rules.reload ${digest}: ${JSON.stringify(rows)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await poll(first, (n) => n === 1, 10_000);

    await postgres.stopServer();
    await server.writeRules("edge.yaml", rulesWith(1));
    await within(10_000, () => server.app.rules.current().digest !== first);
    const second = server.app.rules.current().digest;
    // In effect: the new limit decides, with the database still down.
    const req = rlsRequest("edge", [[["user", "u"]]]);
    const decided = await call<ProtoResponse>(server.rls, "ShouldRateLimit", req);
    expect(decided.statuses[0]!.current_limit).toMatchObject({ requests_per_unit: 1 });
    expect(await pending()).toBe(1);
    // Logged after the first attempt fails (src/admin/rules-audit.ts), not when the load lands.
    await within(10_000, () =>
      server.logs.some((l) => String(l.msg).includes("its audit row is not written yet")),
    );

    await postgres.startServer();
    await poll(second, (n) => n >= 1, 45_000);
    expect(rows[0]!.n).toBe("1");
    for (let i = 0; i < 50 && (await pending()) !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await pending()).toBe(0);
    // Nothing more is written later (no duplicate from a retry).
    await new Promise((r) => setTimeout(r, 1000));
    expect((await reloadRows(second))[0]!.n).toBe("1");
  }, 90_000);
});
