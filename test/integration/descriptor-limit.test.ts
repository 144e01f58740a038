import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckLimitResult, ProtoResponse, TestServer } from "./support/floodgate.js";
import { call, OK, OVER_LIMIT, rlsRequest, startTestServer } from "./support/floodgate.js";

/**
 * A descriptor `limit` (Envoy's per-route override) may not reach the rules' bucket
 * (docs/security.md, threat 1).
 */
const API_RULES = `
domain: api
descriptors:
  - key: user_id
    rate_limit: { unit: minute, requests_per_unit: 120 }
`;
const SECOND = 1;
const MINUTE = 2;

const checkLimit = (server: TestServer, userId: string, weight = 0) =>
  call<CheckLimitResult>(server.rateLimiter, "CheckLimit", { user_id: userId, weight });

const withLimit = (userId: string, requestsPerUnit: number) =>
  rlsRequest("api", [
    { entries: [["user_id", userId]], limit: { requests_per_unit: requestsPerUnit, unit: SECOND } },
  ]);

describe("a descriptor limit override over real gRPC on Redis", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ rules: { "api.yaml": API_RULES } });
  });
  afterAll(async () => server.stop());

  it("cannot refill a bucket that the rules decide (the reset attack)", async () => {
    // Drained, without a denial yet (a denial would be remembered by the over-limit cache).
    expect(await checkLimit(server, "victim", 120)).toMatchObject({ allowed: true });

    const attack = await call<ProtoResponse>(
      server.rls,
      "ShouldRateLimit",
      withLimit("victim", 4_000_000_000),
    );
    expect(attack.overall_code).toBe(OK);

    const after = await checkLimit(server, "victim");
    expect(after.allowed).toBe(false);
    expect(after.remaining ?? 0).toBe(0);
  });

  it("counts each override limit in a bucket of its own", async () => {
    const small = withLimit("carol", 2);
    for (const remaining of [1, 0]) {
      const res = await call<ProtoResponse>(server.rls, "ShouldRateLimit", small);
      expect(res.statuses[0]).toMatchObject({
        code: OK,
        current_limit: { requests_per_unit: 2, unit: SECOND },
        limit_remaining: remaining,
      });
    }
    expect((await call<ProtoResponse>(server.rls, "ShouldRateLimit", small)).overall_code).toBe(OVER_LIMIT);
    // Another rate on the same descriptor, and the rules' own bucket, are untouched by that.
    const other = await call<ProtoResponse>(server.rls, "ShouldRateLimit", withLimit("carol", 3));
    expect(other.statuses[0]).toMatchObject({ code: OK, limit_remaining: 2 });
    expect(await checkLimit(server, "carol")).toMatchObject({ allowed: true, remaining: 119 });
  });
});

describe("DESCRIPTOR_LIMIT_OVERRIDES=false", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      rules: { "api.yaml": API_RULES },
      env: { DESCRIPTOR_LIMIT_OVERRIDES: "false" },
    });
  });
  afterAll(async () => server.stop());

  it("ignores the descriptor limit: the rules decide, in the rules' bucket", async () => {
    const res = await call<ProtoResponse>(server.rls, "ShouldRateLimit", withLimit("dave", 1));
    expect(res.statuses[0]).toMatchObject({
      code: OK,
      current_limit: { requests_per_unit: 120, unit: MINUTE },
      limit_remaining: 119,
    });
    expect(
      (await call<ProtoResponse>(server.rls, "ShouldRateLimit", withLimit("dave", 1))).overall_code,
    ).toBe(OK);
    expect(await checkLimit(server, "dave")).toMatchObject({ allowed: true, remaining: 117 });
  });
});
