import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckLimitResult, TestServer } from "./support/floodgate.js";
import { call, startTestServer } from "./support/floodgate.js";
import { API_RULES } from "./support/rules.js";

describe("CheckLimit over gRPC and HTTP", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ rules: { "api.yaml": API_RULES } });
  });
  afterAll(async () => server.stop());

  const grpc = (user_id: string, endpoint: string, weight = 0) =>
    call<CheckLimitResult>(server.rateLimiter, "CheckLimit", { user_id, endpoint, weight });
  const http = (body: unknown) =>
    fetch(`${server.httpUrl}/api/v1/check-limit`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("checks per-user, per-endpoint and per-pair buckets all or nothing (gRPC)", async () => {
    const remaining: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await grpc("u1", "/a");
      expect(res.allowed).toBe(true);
      remaining.push(res.remaining);
    }
    expect(remaining).toEqual([2, 1, 0]);
    const before = Date.now();
    const denied = await grpc("u1", "/a");
    expect(denied.allowed).toBe(false);
    // One token of the pair bucket comes back every 20 s.
    expect(denied.retry_after.seconds).toBeGreaterThanOrEqual(19);
    expect(denied.retry_after.seconds).toBeLessThanOrEqual(20);
    expect(denied.reset_at.seconds * 1000).toBeGreaterThan(before);
    // The denied call took nothing from the per-user bucket: 5 - 3 - 1 = 1 left.
    const other = await grpc("u1", "/b");
    expect(other).toMatchObject({ allowed: true, remaining: 1 });
  });

  it("answers JSON with an ISO reset_at, and 429 with Retry-After when denied", async () => {
    const first = await http({ user_id: "u2", endpoint: "/tiny", weight: 2 });
    expect(first.status).toBe(200);
    const body = (await first.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ allowed: true, remaining: 0, retry_after: 0 });
    expect(new Date(body["reset_at"] as string).toISOString()).toBe(body["reset_at"]);
    const denied = await http({ user_id: "u2", endpoint: "/tiny" });
    expect(denied.status).toBe(429);
    const retryAfter = Number(denied.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1799);
    expect(retryAfter).toBeLessThanOrEqual(1800);
    expect(await denied.json()).toMatchObject({ allowed: false, remaining: 0 });
  });

  it("serves both transports from the same buckets through one service function", async () => {
    await grpc("u3", "/c", 2);
    const res = await http({ user_id: "u3", endpoint: "/c" });
    expect(await res.json()).toMatchObject({ allowed: true, remaining: 0 });
    const g = await grpc("u3", "/c");
    expect(g.allowed).toBe(false);
  });

  it("checks a user alone when no endpoint is given", async () => {
    const res = await http({ user_id: "u4" });
    expect(await res.json()).toMatchObject({ allowed: true, remaining: 4 });
  });
});
