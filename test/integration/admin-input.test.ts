import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminClient } from "../../src/transport/grpc/admin-client.js";
import type { AdminFixture } from "./support/admin.js";
import { adminFixture } from "./support/admin.js";
import type { TestServer } from "./support/floodgate.js";
import { startTestServer } from "./support/floodgate.js";

/**
 * Admin input gets the public path's checks (docs/security.md, threat 8). A NUL, a control
 * character, U+FFFD or a timestamp out of google.protobuf.Timestamp's range is INVALID_ARGUMENT
 * naming the field, never a Postgres error (UNAVAILABLE), and nothing is written.
 */
const RULES = `
domain: edge
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 100 }
`;
/** 10000-01-01T00:00:00Z, one second past google.protobuf.Timestamp's last one. */
const YEAR_10000 = 253_402_300_800;
const limit = { requests_per_unit: 1, unit: 1 };
const edge = (key: string, value: string, domain = "edge") => ({ domain, entries: [{ key, value }] });

describe("admin input over gRPC, on Postgres", () => {
  let fixture: AdminFixture;
  let server: TestServer;
  /** A client with a fresh token per call: write tokens are single-use (their jti). */
  const admin = {
    call: async (method: string, request: object) => {
      const token = await fixture.token();
      const client = createAdminClient({ address: `127.0.0.1:${server.app.grpcPort}`, token });
      try {
        return await client.call(method, request);
      } finally {
        client.close();
      }
    },
  };
  const rows = async () =>
    (await fixture.query(`select id from ${fixture.schema}.audit_events where action <> 'rules.reload'`))
      .length;
  const refusal = async (method: string, request: object) => {
    const err = (await admin.call(method, request).catch((e: unknown) => e)) as {
      code: number;
      details: string;
    };
    return { code: err.code, details: err.details };
  };
  const invalid = (field: string) => ({
    code: status.INVALID_ARGUMENT,
    details: `invalid request: ${field}`,
  });

  beforeAll(async () => {
    fixture = await adminFixture();
    server = await startTestServer({ rules: { "edge.yaml": RULES }, env: fixture.env });
  });
  afterAll(async () => {
    await server.stop();
    await fixture.cleanup();
  });

  it.each([
    ["a NUL in a value", edge("user", "a\0b"), "target.entries[0].value"],
    ["a control character in a value", edge("user", "a\u0001b"), "target.entries[0].value"],
    ["U+FFFD in a value", edge("user", "a\uFFFDb"), "target.entries[0].value"],
    ["a NUL in a key", edge("us\0er", "a"), "target.entries[0].key"],
    ["a tab in a key", edge("us\ter", "a"), "target.entries[0].key"],
    ["a NUL in the domain", edge("user", "a", "ed\0ge"), "target.domain"],
    ["a newline in the domain", edge("user", "a", "ed\nge"), "target.domain"],
    ["a NUL in a user_id", { user_id: "x\0" }, "target.user_id"],
    ["an escape character in an endpoint", { user_id: "x", endpoint: "/\u001b[2J" }, "target.endpoint"],
  ])("refuses %s in a target", async (_name, target, field) => {
    const before = await rows();
    expect(await refusal("SetOverride", { target, limit, reason: "r" })).toEqual(invalid(field));
    expect(await refusal("ResetBucket", { target, reason: "r" })).toEqual(invalid(field));
    expect(await rows()).toBe(before);
  });

  it("accepts a tab in a value, as a header value may hold one", async () => {
    const target = edge("user", "a\tb");
    await admin.call("SetOverride", { target, limit, reason: "tab" });
    expect(await admin.call("DeleteOverride", { target, reason: "tab" })).toEqual({ deleted: true });
  });

  it.each([
    ["a NUL", "incident\0 42"],
    ["a carriage return", "incident\r42"],
    ["U+FFFD", "incident \uFFFD"],
  ])("refuses %s in a reason, and keeps tabs and newlines", async (_name, reason) => {
    const target = edge("user", "reasoned");
    expect(await refusal("SetOverride", { target, limit, reason })).toEqual(invalid("reason"));
    await admin.call("SetOverride", { target, limit, reason: "incident 42:\n\tsee ticket" });
  });

  it.each([
    ["far past the year 9999", { seconds: 1e15, nanos: 0 }],
    ["in the year 10000", { seconds: YEAR_10000, nanos: 0 }],
    ["with nanos out of range", { seconds: 4_000_000_000, nanos: 1_000_000_000 }],
    ["with negative nanos", { seconds: 4_000_000_000, nanos: -1 }],
  ])("refuses an expires_at %s", async (_name, expiresAt) => {
    const request = { target: edge("user", "expiring"), limit, reason: "r", expires_at: expiresAt };
    expect(await refusal("SetOverride", request)).toEqual(invalid("expires_at"));
  });

  it("refuses since and until out of range, and accepts the last valid second", async () => {
    expect(await refusal("ListAuditEvents", { since: { seconds: 1e15 } })).toEqual(invalid("since"));
    expect(await refusal("ListAuditEvents", { until: { seconds: YEAR_10000 } })).toEqual(invalid("until"));
    expect(await refusal("ListAuditEvents", { since: { seconds: -62_135_596_801 } })).toEqual(
      invalid("since"),
    );
    const page = (await admin.call("ListAuditEvents", {
      since: { seconds: -62_135_596_800 },
      until: { seconds: YEAR_10000 - 1, nanos: 999_999_999 },
    })) as { events: unknown[] };
    expect(page.events.length).toBeGreaterThan(0);
  });

  it("refuses a NUL in the list filters", async () => {
    expect(await refusal("ListOverrides", { domain: "ed\0ge" })).toEqual(invalid("domain"));
    expect(await refusal("ListAuditEvents", { actor: "alice\0" })).toEqual(invalid("actor"));
  });
});
