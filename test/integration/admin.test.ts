import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminClient } from "../../src/transport/grpc/admin-client.js";
import { createAdminClient } from "../../src/transport/grpc/admin-client.js";
import type { AdminFixture } from "./support/admin.js";
import { healthCheck, opsClient, SERVING } from "../harness/grpc-ops-client.js";
import { adminFixture } from "./support/admin.js";
import type { ProtoResponse, TestServer } from "./support/floodgate.js";
import { call, OK, OVER_LIMIT, rlsRequest, startTestServer } from "./support/floodgate.js";

const RULES = `
domain: api
descriptors:
  - key: user_id
    rate_limit: { unit: minute, requests_per_unit: 100 }
`;
const EDGE = `
domain: edge
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 100 }
  - key: plan
    value: premium
    rate_limit: { name: premium, unit: minute, requests_per_unit: 1000, replaces: [{ name: override }] }
  - key: named
    rate_limit: { name: override, unit: minute, requests_per_unit: 100 }
`;

interface AuditRow {
  action: string;
  actor_sub: string;
  reason: string | null;
}

describe("admin API over gRPC, on Postgres", () => {
  let fixture: AdminFixture;
  let server: TestServer;
  let admin: AdminClient;
  const audit = () =>
    fixture.query<AuditRow>(
      `select action, actor_sub, reason from ${fixture.schema}.audit_events where action <> 'rules.reload' order by id`,
    );

  beforeAll(async () => {
    fixture = await adminFixture();
    server = await startTestServer({ rules: { "api.yaml": RULES, "edge.yaml": EDGE }, env: fixture.env });
    admin = fixture.client(`127.0.0.1:${server.app.grpcPort}`);
  });
  afterAll(async () => {
    admin.close();
    await server.stop();
    await fixture.cleanup();
  });

  it("exports the series the admin alerts watch before their first event (increase() misses a first one)", async () => {
    const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
    for (const [method, result] of [
      ["DeleteOverride", "replayed"],
      ["DeleteOverride", "key_source"],
      ["GetBucket", "key_source"],
    ]) {
      expect(text).toMatch(
        new RegExp(`^floodgate_admin_requests_total\\{method="${method}",result="${result}"\\} \\d+$`, "m"),
      );
    }
    // Reads cannot be replayed: no such series.
    expect(text).not.toMatch(/method="GetBucket",result="replayed"/);
  });

  it("sets, lists, applies and deletes an override, with one audit row per step", async () => {
    const set = (await admin.call("SetOverride", {
      target: { domain: "edge", entries: [{ key: "user", value: "mallory" }] },
      limit: { requests_per_unit: 1, unit: 2 },
      reason: "incident 42",
    })) as { override: { id: string; created_by: string } };
    expect(set.override.created_by).toBe("alice@ops");

    const list = (await admin.call("ListOverrides", { domain: "edge" })) as { overrides: unknown[] };
    expect(list.overrides).toHaveLength(1);

    const req = rlsRequest("edge", [[["user", "mallory"]]]);
    const first = await call<ProtoResponse>(server.rls, "ShouldRateLimit", req);
    expect(first.overall_code).toBe(OK);
    expect(first.statuses[0]!.current_limit).toMatchObject({ name: "override", requests_per_unit: 1 });
    expect((await call<ProtoResponse>(server.rls, "ShouldRateLimit", req)).overall_code).toBe(OVER_LIMIT);
    // Other users keep the rule's limit.
    const other = await call<ProtoResponse>(
      server.rls,
      "ShouldRateLimit",
      rlsRequest("edge", [[["user", "bob"]]]),
    );
    expect(other.statuses[0]!.current_limit).toMatchObject({ requests_per_unit: 100 });

    expect(
      await admin.call("DeleteOverride", {
        target: { domain: "edge", entries: [{ key: "user", value: "mallory" }] },
        reason: "resolved",
      }),
    ).toEqual({
      deleted: true,
    });
    const after = await call<ProtoResponse>(
      server.rls,
      "ShouldRateLimit",
      rlsRequest("edge", [[["user", "mallory"]]]),
    );
    expect(after.statuses[0]!.current_limit).toMatchObject({ requests_per_unit: 100 });

    expect(await audit()).toEqual([
      { action: "override.set", actor_sub: "alice@ops", reason: "incident 42" },
      { action: "override.delete", actor_sub: "alice@ops", reason: "resolved" },
    ]);
  });

  it("applies a CheckLimit override set by user id", async () => {
    await admin.call("SetOverride", {
      target: { user_id: "eve" },
      limit: { requests_per_unit: 2, unit: 3 },
      reason: "trial",
    });
    const check = () =>
      call<{ allowed: boolean; remaining: number }>(server.rateLimiter, "CheckLimit", {
        user_id: "eve",
        endpoint: "/x",
      });
    expect(await check()).toMatchObject({ allowed: true, remaining: 1 });
    expect(await check()).toMatchObject({ allowed: true, remaining: 0 });
    expect((await check()).allowed).toBe(false);
  });

  it("keeps an operator's override when a rule that `replaces` a rule named `override` matches too", async () => {
    const entries = [{ key: "user", value: "trudy" }];
    await admin.call("SetOverride", {
      target: { domain: "edge", entries },
      limit: { requests_per_unit: 2, unit: "MINUTE" },
      reason: "abuse",
    });
    const both = rlsRequest("edge", [[["user", "trudy"]], [["plan", "premium"]]]);
    const codes: number[] = [];
    for (let i = 0; i < 3; i++)
      codes.push((await call<ProtoResponse>(server.rls, "ShouldRateLimit", both)).overall_code);
    expect(codes).toEqual([OK, OK, OVER_LIMIT]);
    await admin.call("DeleteOverride", { target: { domain: "edge", entries }, reason: "done" });
  });

  it("does not report a rule named `override` as an operator's override", async () => {
    const target = { domain: "edge", entries: [{ key: "named", value: "x" }] };
    expect(await admin.call("GetBucket", { target })).toMatchObject({ overridden: false });
    await admin.call("SetOverride", { target, limit: { requests_per_unit: 3, unit: "MINUTE" }, reason: "r" });
    expect(await admin.call("GetBucket", { target })).toMatchObject({ overridden: true });
    await admin.call("DeleteOverride", { target, reason: "done" });
  });

  it("reports the Admin service in gRPC health on the port that serves it", async () => {
    const ops = opsClient(`127.0.0.1:${server.app.grpcPort}`);
    try {
      expect(await healthCheck(ops, "floodgate.v1.Admin")).toEqual({ code: 0, body: SERVING });
      expect(await healthCheck(ops, "floodgate.v1.RateLimiter")).toEqual({ code: 0, body: SERVING });
    } finally {
      ops.close();
    }
  });

  it("resets a bucket and shows it, audited", async () => {
    const target = { domain: "edge", entries: [{ key: "user", value: "zed" }] };
    const calledAt = Date.now();
    await call(server.rls, "ShouldRateLimit", rlsRequest("edge", [[["user", "zed"]]]));
    const before = (await admin.call("GetBucket", { target })) as {
      exists: boolean;
      tokens: number;
      updated_at: { seconds: number; nanos: number };
    };
    expect(before).toMatchObject({ exists: true });
    expect(before.tokens).toBeCloseTo(99, 0);
    // A wall-clock time: when the call above charged the bucket.
    const updatedAtMs = before.updated_at.seconds * 1000 + before.updated_at.nanos / 1e6;
    expect(Math.abs(updatedAtMs - calledAt)).toBeLessThan(5000);
    await admin.call("ResetBucket", { target, reason: "support ticket" });
    expect(await admin.call("GetBucket", { target })).toMatchObject({ exists: false });
    expect((await audit()).at(-1)).toEqual({
      action: "bucket.reset",
      actor_sub: "alice@ops",
      reason: "support ticket",
    });
  });

  it("lists and verifies the audit log, including the rules load by system", async () => {
    const events = (await admin.call("ListAuditEvents", {})) as {
      events: { action: string; actor: { sub: string } }[];
    };
    // Newest first; the rules load at startup is the oldest.
    expect(events.events.at(-1)).toMatchObject({ action: "rules.reload", actor: { sub: "system" } });
    expect(events.events[0]!.action).toBe("bucket.reset");
    expect(await admin.call("VerifyAuditLog", {})).toMatchObject({ ok: true, first_broken_id: "" });
  });

  it("refuses a write with a read-only token, and writes no audit row", async () => {
    const reader = createAdminClient({
      address: `127.0.0.1:${server.app.grpcPort}`,
      token: await fixture.token({ scopes: ["floodgate:read"] }),
    });
    const rows = (await audit()).length;
    const err = (await reader
      .call("SetOverride", {
        target: { user_id: "x" },
        limit: { requests_per_unit: 1, unit: 1 },
        reason: "r",
      })
      .catch((e: unknown) => e)) as { code: number };
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(await reader.call("ListOverrides", {})).toHaveProperty("overrides");
    reader.close();
    expect(await audit()).toHaveLength(rows);
  });

  it("answers an unauthenticated call the same way whether or not the request is well formed", async () => {
    const anonymous = createAdminClient({ address: `127.0.0.1:${server.app.grpcPort}`, token: "not-a-jwt" });
    const a = (await anonymous.call("SetOverride", {}).catch((e: unknown) => e)) as {
      code: number;
      details: string;
    };
    const b = (await anonymous
      .call("SetOverride", {
        target: { user_id: "x" },
        limit: { requests_per_unit: 1, unit: 1 },
        reason: "r",
      })
      .catch((e: unknown) => e)) as { code: number; details: string };
    anonymous.close();
    expect(a).toMatchObject({ code: status.UNAUTHENTICATED, details: "unauthenticated" });
    expect(b).toMatchObject({ code: status.UNAUTHENTICATED, details: "unauthenticated" });
  });

  it("stops applying an override when it expires, and audits the expiry", async () => {
    const target = { domain: "edge", entries: [{ key: "user", value: "temp" }] };
    const expires = Date.now() + 1200;
    await admin.call("SetOverride", {
      target,
      limit: { requests_per_unit: 3, unit: 1 },
      expires_at: { seconds: Math.floor(expires / 1000), nanos: (expires % 1000) * 1e6 },
      reason: "short",
    });
    const limit = async () =>
      (await call<ProtoResponse>(server.rls, "ShouldRateLimit", rlsRequest("edge", [[["user", "temp"]]])))
        .statuses[0]!.current_limit?.requests_per_unit;
    expect(await limit()).toBe(3);
    while (Date.now() < expires) await new Promise((r) => setTimeout(r, 50));
    expect(await limit()).toBe(100);
    const deadline = Date.now() + 5000;
    while (!(await audit()).some((r) => r.action === "override.expire")) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await audit()).filter((r) => r.action === "override.expire")).toEqual([
      { action: "override.expire", actor_sub: "system", reason: "expired" },
    ]);
  });

  it("refuses a replayed write token (a second write with the same jti) and writes no audit row", async () => {
    const address = `127.0.0.1:${server.app.grpcPort}`;
    const once = createAdminClient({ address, token: await fixture.token() });
    const reset = () =>
      once
        .call("ResetBucket", { target: { user_id: "replay" }, reason: "replay test" })
        .catch((e: unknown) => e);
    expect(await reset()).toEqual({});
    const rows = (await audit()).length;
    expect(await reset()).toMatchObject({ code: status.UNAUTHENTICATED, details: "unauthenticated" });
    // Reads with the same token are fine.
    expect(await once.call("ListOverrides", {})).toHaveProperty("overrides");
    once.close();
    expect(await audit()).toHaveLength(rows);
    const metrics = await server.app.metrics.registry.getSingleMetricAsString(
      "floodgate_admin_requests_total",
    );
    expect(metrics).toMatch(/method="ResetBucket",result="replayed"} 1/);
  });

  it("refuses bad tokens with one message and writes no audit row", async () => {
    const rows = (await audit()).length;
    const tokens = [
      await fixture.token({ ttlSeconds: 999_999 }),
      (await fixture.token()).slice(0, -4) + "AAAA",
      "Bearer",
      "x".repeat(9000),
    ];
    for (const token of tokens) {
      const client = createAdminClient({ address: `127.0.0.1:${server.app.grpcPort}`, token });
      const err = (await client
        .call("SetOverride", {
          target: { user_id: "t" },
          limit: { requests_per_unit: 1, unit: 1 },
          reason: "r",
        })
        .catch((e: unknown) => e)) as { code: number; details: string };
      client.close();
      expect(err).toMatchObject({ code: status.UNAUTHENTICATED, details: "unauthenticated" });
    }
    expect(await audit()).toHaveLength(rows);
    const metrics = await server.app.metrics.registry.getSingleMetricAsString(
      "floodgate_admin_requests_total",
    );
    expect(metrics).toMatch(/method="SetOverride",result="lifetime"} 1/);
    expect(metrics).toMatch(/method="SetOverride",result="oversized"} 1/);
  });

  it("rejects bad input from an authenticated operator, naming the field", async () => {
    const err = (await admin
      .call("SetOverride", {
        target: { domain: "edge", entries: [] },
        limit: { requests_per_unit: 1, unit: 1 },
        reason: "r",
      })
      .catch((e: unknown) => e)) as { code: number; details: string };
    expect(err).toMatchObject({ code: status.INVALID_ARGUMENT, details: "invalid request: target.entries" });
    const noReason = (await admin
      .call("SetOverride", {
        target: { user_id: "q" },
        limit: { requests_per_unit: 1, unit: 1 },
        reason: " ",
      })
      .catch((e: unknown) => e)) as { code: number; details: string };
    expect(noReason.details).toBe("invalid request: reason");
  });
});

describe("admin API when not configured", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ rules: { "api.yaml": RULES }, memory: true });
  });
  afterAll(async () => server.stop());

  it("answers UNAVAILABLE with a clear message", async () => {
    const client = createAdminClient({ address: `127.0.0.1:${server.app.grpcPort}`, token: "x" });
    const err = (await client.call("ListOverrides", {}).catch((e: unknown) => e)) as {
      code: number;
      details: string;
    };
    client.close();
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toMatch(/admin API is not configured/);
  });
});
