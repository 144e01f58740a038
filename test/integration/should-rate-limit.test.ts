import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProtoResponse, TestServer } from "./support/floodgate.js";
import { call, callRaw, OK, OVER_LIMIT, rlsRequest, startTestServer } from "./support/floodgate.js";
import { EDGE_RULES, RL_RULES } from "./support/rules.js";

const SECOND = 1;
const MINUTE = 2;
const HOUR = 3;

describe("ShouldRateLimit over real gRPC on Redis", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ rules: { "rl.yaml": RL_RULES, "edge.yaml": EDGE_RULES } });
  });
  afterAll(async () => server.stop());

  const check = (req: object) => call<ProtoResponse>(server.rls, "ShouldRateLimit", req);

  it("answers Envoy's own request bytes with the exact response bytes", async () => {
    const request = Buffer.from(
      "0a0465646765121d0a0d0a04757365721205616c6963650a0c0a047061746812042f617069",
      "hex",
    );
    const response = await callRaw(server.raw, request);
    // OK; status {OK, current_limit {"per-user", 10, MINUTE}, limit_remaining 9, duration_until_reset 6s}
    expect(response.toString("hex")).toBe("080112180801120e080a10021a087065722d75736572180922020806");
  });

  it("is all or nothing: a denied request leaves the other buckets untouched", async () => {
    const both = rlsRequest("rl", [
      [["user", "ann"]],
      [
        ["user", "ann"],
        ["path", "/x"],
      ],
    ]);
    for (const expected of [2, 1]) {
      const res = await check(both);
      expect(res.overall_code).toBe(OK);
      expect(res.statuses.map((s) => s.limit_remaining)).toEqual([expected, expected - 1]);
    }
    const denied = await check(both);
    expect(denied.overall_code).toBe(OVER_LIMIT);
    expect(denied.statuses.map((s) => s.code)).toEqual([OK, OVER_LIMIT]);
    expect(denied.statuses[0]!.limit_remaining).toBe(1);
    const userOnly = await check(rlsRequest("rl", [[["user", "ann"]]]));
    expect(userOnly.overall_code).toBe(OK);
    expect(userOnly.statuses[0]!.limit_remaining).toBe(0);
  });

  it("returns one status per descriptor, in request order, including unmatched and empty ones", async () => {
    const res = await check(
      rlsRequest("rl", [
        [["path", "/a"]],
        [["nope", "x"]],
        [],
        [["open", "1"]],
        [
          ["user", "bo"],
          ["x", "y"],
        ],
      ]),
    );
    expect(res.overall_code).toBe(OK);
    expect(res.statuses).toHaveLength(5);
    expect(res.statuses[0]).toMatchObject({
      code: OK,
      current_limit: { requests_per_unit: 5, unit: MINUTE },
      limit_remaining: 4,
    });
    expect(res.statuses[1]).toMatchObject({ code: OK, current_limit: null, limit_remaining: 0 });
    expect(res.statuses[2]).toMatchObject({ code: OK, current_limit: null });
    expect(res.statuses[3]).toMatchObject({ code: OK, current_limit: null, limit_remaining: 4_294_967_295 });
    expect(res.statuses[4]).toMatchObject({ code: OK, current_limit: null });
  });

  it("answers OK with no limit for an unknown domain", async () => {
    const res = await check(rlsRequest("no-such-domain", [[["user", "ann"]]]));
    expect(res.overall_code).toBe(OK);
    expect(res.statuses).toEqual([expect.objectContaining({ code: OK, current_limit: null })]);
  });

  it("lets bursts through up to the burst size, then refills at the rate", async () => {
    const req = rlsRequest("rl", [[["burst", "b1"]]]);
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await check(req)).overall_code);
    expect(codes).toEqual([OK, OK, OK, OK, OK, OVER_LIMIT]);
    const denied = await check(req);
    expect(denied.statuses[0]).toMatchObject({ current_limit: { requests_per_unit: 1, unit: SECOND } });
    expect(denied.statuses[0]!.duration_until_reset!.seconds).toBeGreaterThanOrEqual(4);
    expect(denied.statuses[0]!.duration_until_reset!.seconds).toBeLessThanOrEqual(5);
  });

  it("applies request-level and descriptor-level hits_addend", async () => {
    const res = await check(rlsRequest("rl", [[["burst", "h1"]]], { hits_addend: 3 }));
    expect(res.statuses[0]!.limit_remaining).toBe(2);
    const checkOnly = await check(
      rlsRequest("rl", [{ entries: [["burst", "h1"]], hits_addend: { value: 0 } }], { hits_addend: 3 }),
    );
    expect(checkOnly.overall_code).toBe(OK);
    expect(checkOnly.statuses[0]!.limit_remaining).toBe(2);
    const wins = await check(
      rlsRequest("rl", [{ entries: [["burst", "h1"]], hits_addend: { value: 2 } }], { hits_addend: 5 }),
    );
    expect(wins.overall_code).toBe(OK);
    expect(wins.statuses[0]!.limit_remaining).toBe(0);
    const tooMuch = await check(rlsRequest("rl", [[["burst", "h2"]]], { hits_addend: 6 }));
    expect(tooMuch.overall_code).toBe(OVER_LIMIT);
    expect(tooMuch.statuses[0]!.limit_remaining).toBe(5);
  });

  it("honours the descriptor limit override", async () => {
    const req = rlsRequest("rl", [
      { entries: [["user", "ovr"]], limit: { requests_per_unit: 1, unit: SECOND } },
    ]);
    const first = await check(req);
    expect(first.overall_code).toBe(OK);
    expect(first.statuses[0]!.current_limit).toMatchObject({ requests_per_unit: 1, unit: SECOND });
    expect((await check(req)).overall_code).toBe(OVER_LIMIT);
  });

  it("never denies on a shadow_mode rule", async () => {
    const req = rlsRequest("rl", [[["shadow", "s1"]]]);
    for (let i = 0; i < 3; i++) {
      const res = await check(req);
      expect(res.overall_code).toBe(OK);
      expect(res.statuses[0]!.code).toBe(OK);
      expect(res.statuses[0]!.current_limit).toMatchObject({ requests_per_unit: 1 });
    }
    const metrics = await server.app.metrics.registry.getSingleMetricAsString("floodgate_decisions_total");
    expect(metrics).toMatch(/domain="rl",outcome="shadow_denied",source="redis"} [1-9]/);
  });

  it("matches exact before wildcard before key-only default", async () => {
    const res = await check(
      rlsRequest("rl", [[["team", "eng-core"]], [["team", "eng-web"]], [["team", "sales"]]]),
    );
    expect(res.statuses.map((s) => s.current_limit?.name)).toEqual(["eng-core", "eng-teams", "any-team"]);
    expect(res.statuses.map((s) => s.limit_remaining)).toEqual([3, 1, 0]);
  });

  it("drops a limit that another matched limit replaces", async () => {
    const res = await check(rlsRequest("rl", [[["plan", "free"]], [["plan", "paid"]]]));
    expect(res.statuses[0]).toMatchObject({ code: OK, current_limit: null });
    expect(res.statuses[1]).toMatchObject({ current_limit: { name: "paid-plan", unit: HOUR } });
    const alone = await check(rlsRequest("rl", [[["plan", "free"]]]));
    expect(alone.statuses[0]!.current_limit?.name).toBe("free-plan");
  });

  it("denies everything on requests_per_unit: 0 and allows a node without a limit", async () => {
    const zero = await check(rlsRequest("rl", [[["zero", "z"]], [["whitelisted", "w"]]]));
    expect(zero.overall_code).toBe(OVER_LIMIT);
    expect(zero.statuses.map((s) => s.code)).toEqual([OVER_LIMIT, OK]);
    const open = await check(rlsRequest("rl", [[["whitelisted", "w"]]]));
    expect(open.overall_code).toBe(OK);
  });
});

describe("ShouldRateLimit with SHADOW_MODE and RESPONSE_HEADERS", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      rules: { "rl.yaml": RL_RULES },
      env: { SHADOW_MODE: "true", RESPONSE_HEADERS: "true" },
    });
  });
  afterAll(async () => server.stop());

  it("reports OK overall but keeps the per-descriptor code, and adds RateLimit headers", async () => {
    const req = rlsRequest("rl", [[["team", "ops"]]]);
    const first = await call<ProtoResponse>(server.rls, "ShouldRateLimit", req);
    expect(first.response_headers_to_add).toEqual([
      { key: "RateLimit-Limit", value: '1, 1;w=60;name="any-team"', raw_value: Buffer.alloc(0) },
      { key: "RateLimit-Remaining", value: "0", raw_value: Buffer.alloc(0) },
      { key: "RateLimit-Reset", value: "60", raw_value: Buffer.alloc(0) },
    ]);
    const second = await call<ProtoResponse>(server.rls, "ShouldRateLimit", req);
    expect(second.overall_code).toBe(OK);
    expect(second.statuses[0]!.code).toBe(OVER_LIMIT);
  });
});
