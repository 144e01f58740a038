import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commandStats, statsDelta } from "../harness/redis-helpers.js";
import type { RedisServer } from "../harness/redis-server.js";
import { startRedisServer } from "../harness/redis-server.js";
import type { ProtoResponse, TestServer } from "./support/floodgate.js";
import { call, OK, rlsRequest, startTestServer } from "./support/floodgate.js";
import { RL_RULES } from "./support/rules.js";

// A private redis-server, so that INFO commandstats counts only this test's calls.
describe("one EVALSHA per request", () => {
  let redis: RedisServer;
  let server: TestServer;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedisServer();
    server = await startTestServer({ rules: { "rl.yaml": RL_RULES }, redisUrl: redis.url });
    admin = new Redis(redis.url);
  });
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
    await redis.stop();
  });

  it("evaluates three descriptors with exactly one EVALSHA and nothing else", async () => {
    const req = rlsRequest("rl", [
      [["user", "x"]],
      [["path", "/p"]],
      [
        ["user", "x"],
        ["path", "/p"],
      ],
    ]);
    await call(server.rls, "ShouldRateLimit", req); // warm up: the script may need loading once
    const before = await commandStats(admin);
    const requests = 10;
    for (let i = 0; i < requests; i++) {
      const res = await call<ProtoResponse>(
        server.rls,
        "ShouldRateLimit",
        rlsRequest("rl", [
          [["user", `u${i}`]],
          [["path", `/p${i}`]],
          [
            ["user", `u${i}`],
            ["path", `/p${i}`],
          ],
        ]),
      );
      expect(res.overall_code).toBe(OK);
      expect(res.statuses.every((s) => s.current_limit !== null)).toBe(true);
    }
    const after = await commandStats(admin);
    const delta = statsDelta(before, after, ["evalsha", "eval", "script|load"]);
    expect(delta).toEqual({ evalsha: requests, eval: 0, "script|load": 0 });
    // Redis also counts the commands the script runs inside; nothing else may have been sent.
    const sent = Object.keys(after).filter((name) => after[name] !== (before[name] ?? 0));
    const insideScript = new Set(["time", "hmget", "hset", "pexpire", "info"]);
    expect(sent.filter((name) => name !== "evalsha" && !insideScript.has(name))).toEqual([]);
  });

  it("recovers by itself after SCRIPT FLUSH (NOSCRIPT)", async () => {
    await admin.script("FLUSH");
    const res = await call<ProtoResponse>(
      server.rls,
      "ShouldRateLimit",
      rlsRequest("rl", [[["user", "after-flush"]]]),
    );
    expect(res.overall_code).toBe(OK);
    expect(res.statuses[0]!.limit_remaining).toBe(2);
  });
});
