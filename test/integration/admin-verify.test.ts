/**
 * VerifyAuditLog over gRPC (docs/audit-log.md, "Verification"): the head to export, --expect-head's
 * fields and their validation, and a caller that gives up: the walk stops, the replica is free
 * again, and the progress is kept in a checkpoint.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminClient } from "../../src/transport/grpc/admin-client.js";
import { createAdminClient } from "../../src/transport/grpc/admin-client.js";
import type { AdminFixture } from "./support/admin.js";
import { adminFixture } from "./support/admin.js";
import type { TestServer } from "./support/floodgate.js";
import { startTestServer } from "./support/floodgate.js";

interface Verified {
  ok: boolean;
  checked: number;
  first_broken_id: string;
  problem: string;
  head_id: string;
  head_hash: string;
  resumed_from_id: string;
  seals_verified: boolean;
  notes: string[];
}

let fixture: AdminFixture;
let server: TestServer;
let admin: AdminClient;
const verify = (request: object = {}, client = admin) =>
  client.call("VerifyAuditLog", request) as Promise<Verified>;

beforeAll(async () => {
  fixture = await adminFixture();
  server = await startTestServer({ rules: { "api.yaml": "domain: api\n" }, env: fixture.env, memory: true });
  admin = createAdminClient({ address: `127.0.0.1:${server.app.grpcPort}`, token: await fixture.token() });
});
afterAll(async () => {
  admin?.close();
  await server?.stop();
  await fixture?.cleanup();
});

describe("VerifyAuditLog", () => {
  it("returns the head to export, and checks an exported head", async () => {
    const first = await verify();
    expect(first).toMatchObject({
      ok: true,
      first_broken_id: "",
      seals_verified: false,
      resumed_from_id: "",
    });
    expect(first.notes.join("\n")).toMatch(/no AUDIT_CHAIN_KEY_FILE/);
    const head = { expect_head_id: first.head_id, expect_head_hash: first.head_hash };
    expect(await verify(head)).toMatchObject({ ok: true, checked: 0, resumed_from_id: first.head_id });
    expect(await verify({ ...head, full: true })).toMatchObject({ ok: true, checked: first.checked });
    expect(await verify({ ...head, expect_head_hash: "a".repeat(64) })).toMatchObject({
      ok: false,
      first_broken_id: first.head_id,
      head_id: "",
    });
  });

  it("refuses a malformed head naming only the field", async () => {
    for (const [request, field] of [
      [{ expect_head_id: "0x1", expect_head_hash: "a".repeat(64) }, "expect_head_id"],
      [{ expect_head_id: "99999999999999999999", expect_head_hash: "a".repeat(64) }, "expect_head_id"],
      [{ expect_head_id: "1", expect_head_hash: "<script>" }, "expect_head_hash"],
      [{ expect_head_id: "1" }, "expect_head_hash"],
    ] as const) {
      await expect(verify(request)).rejects.toMatchObject({
        code: status.INVALID_ARGUMENT,
        details: `invalid request: ${field}`,
      });
    }
  });

  it("stops the walk when the caller gives up, keeping its progress in a checkpoint", async () => {
    // The checkpoint the calls above left: the cancelled walk must save one past it.
    const previous = await verify();
    expect(previous).toMatchObject({ ok: true, checked: 0 });
    await fixture.query(
      `insert into ${fixture.schema}.audit_events (actor_sub, actor_iss, action)
       select 'bulk', 'x', 'bucket.reset' from generate_series(1, 60000)`,
    );
    const rows = await fixture.query<{ max: string }>(
      `select max(id)::text as max from ${fixture.schema}.audit_events`,
    );
    const max = rows[0]!.max;
    const impatient = createAdminClient({
      address: `127.0.0.1:${server.app.grpcPort}`,
      token: await fixture.token(),
      deadlineMs: 150,
    });
    try {
      await expect(verify({ full: true }, impatient)).rejects.toMatchObject({
        code: status.DEADLINE_EXCEEDED,
      });
    } finally {
      impatient.close();
    }
    // The replica is free again soon (a walk to the end would take about a second longer), and the
    // checkpoint it left lies past the previous one and before the end.
    let next: Verified | undefined;
    for (let i = 0; i < 100 && next === undefined; i++) {
      next = await verify().catch((e: { details?: string }) => {
        if (!String(e.details).includes("already running")) throw e;
        return undefined;
      });
      if (next === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(next).toMatchObject({ ok: true, head_id: max });
    expect(BigInt(next!.resumed_from_id)).toBeGreaterThan(BigInt(previous.head_id));
    expect(BigInt(next!.resumed_from_id)).toBeLessThan(BigInt(max));
  });
});
