/**
 * Redis-specific store behaviour on a PRIVATE redis-server (so command counts are ours alone and
 * SCRIPT FLUSH touches nobody else): one EVALSHA per evaluate(), NOSCRIPT recovery, the client
 * settings (credentials, db, fail-fast while disconnected).
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BucketCheck, BucketId } from "../../src/domain/bucket.js";
import type { KeyedBucketStore } from "../../src/store/keyed-store.js";
import { keyedChecks } from "../../src/store/keys.js";
import { createRedisClient } from "../../src/store/redis/client.js";
import { waitUntilReady } from "../harness/redis-helpers.js";
import { createRedisStore } from "../../src/store/redis/redis-store.js";
import { freePort } from "../harness/processes.js";
import { commandStats, statsDelta } from "../harness/redis-helpers.js";
import type { RedisServer } from "../harness/redis-server.js";
import { startRedisServer } from "../harness/redis-server.js";

const SCRIPT_COMMANDS = ["evalsha", "eval", "script|load", "hmget"];

let server: RedisServer;
let client: Redis;
let admin: Redis;
let store: KeyedBucketStore;

beforeAll(async () => {
  server = await startRedisServer();
  client = createRedisClient(server.url, { timeoutMs: 2000 });
  admin = new Redis(server.url);
  await waitUntilReady(client, 5000);
  store = createRedisStore({ client, keyPrefix: "rs:" });
});

afterAll(async () => {
  await store.close();
  await admin.quit();
  await server.stop();
});

function threeChecks(request: number): BucketCheck[] {
  const spec = { capacity: 100, refillTokens: 1, refillPeriodUs: 1e6 };
  return ["user", "endpoint", "pair"].map((k) => ({
    bucket: { domain: `r${request}`, entries: [{ key: "bucket", value: k }] },
    spec,
    cost: 1,
    shadow: false,
  }));
}

const hostile = "{".repeat(1024);
/** Identities and their keys under the prefix "rs:", pinned byte for byte. */
const PINNED_KEYS: readonly (readonly [BucketId, string])[] = [
  [{ domain: "api", entries: [] }, "rs:{api}"],
  [
    {
      domain: "api",
      entries: [
        { key: "user_id", value: "u1" },
        { key: "endpoint", value: "/x" },
      ],
    },
    "rs:{api|user_id=u1}|endpoint=/x",
  ],
  [{ domain: "d{1}", entries: [{ key: "k|=", value: "a}{%" }] }, "rs:{d%7B1%7D|k%7C%3D=a%7D%7B%25}"],
  [
    {
      domain: "api",
      entries: [{ key: "user_id", value: "victim" }],
      descriptorLimit: { requestsPerUnit: 4_000_000_000, unit: "second" },
    },
    "rs:{api|user_id=victim}%L4000000000/second",
  ],
  [
    {
      domain: "api",
      entries: [
        { key: "user_id", value: hostile },
        { key: "endpoint", value: "josé" },
      ],
    },
    "rs:{%HD-K1t0945h4OgewqvVryrF}%HCP1oVo6n25kCeAkWbSqHHO",
  ],
  [
    {
      domain: "api",
      entries: [
        { key: "user_id", value: "josé" },
        { key: "endpoint", value: "/orders" },
      ],
      descriptorLimit: { requestsPerUnit: 1, unit: "minute" },
    },
    "rs:{%H3lU23V8XqIxEnA5qxigA_G}|endpoint=/orders%L1/minute",
  ],
];

describe("redis store on a private server", () => {
  it("sends exactly one EVALSHA per evaluate()", async () => {
    await store.evaluate(threeChecks(0)); // may load the script (NOSCRIPT, then EVAL)
    const before = await commandStats(admin);
    for (let i = 1; i <= 5; i++) await store.evaluate(threeChecks(i));
    const delta = statsDelta(before, await commandStats(admin), SCRIPT_COMMANDS);
    expect(delta).toEqual({ evalsha: 5, eval: 0, "script|load": 0, hmget: 15 });
  });

  it("recovers from NOSCRIPT after SCRIPT FLUSH with one EVAL", async () => {
    await admin.script("FLUSH");
    const before = await commandStats(admin);
    const decision = await store.evaluate(threeChecks(10));
    expect(decision.allowed).toBe(true);
    expect(decision.outcomes.map((o) => o.remaining)).toEqual([99, 99, 99]);
    const recovered = statsDelta(before, await commandStats(admin), SCRIPT_COMMANDS);
    // The failed EVALSHA, then the EVAL that runs the script and caches it again.
    expect(recovered).toMatchObject({ evalsha: 1, eval: 1, hmget: 3 });

    const next = await commandStats(admin);
    await store.evaluate(threeChecks(11));
    expect(statsDelta(next, await commandStats(admin), SCRIPT_COMMANDS)).toMatchObject({
      evalsha: 1,
      eval: 0,
    });
  });

  it("stores each bucket as a hash that expires when it would be full", async () => {
    const bucket: BucketId = { domain: "ttl", entries: [] };
    const check: BucketCheck = {
      bucket,
      spec: { capacity: 10, refillTokens: 1, refillPeriodUs: 1e6 },
      cost: 4,
      shadow: false,
    };
    await store.evaluate([check]);
    const fields = await admin.hgetall("rs:{ttl}");
    expect(Object.keys(fields).sort()).toEqual(["t", "u"]);
    expect(Number(fields.t)).toBeCloseTo(6, 3);
    // 4 tokens at 1/s: full in 4 s, plus the margin.
    const ttl = await admin.pttl("rs:{ttl}");
    expect(ttl).toBeGreaterThan(4000);
    expect(ttl).toBeLessThanOrEqual(5000);
    // Redis stamps the hash with its TIME in µs; peek gives the same instant in ms.
    expect(await store.peek(bucket)).toEqual({
      tokens: Number(fields.t),
      updatedAtMs: Number(fields.u) / 1000,
    });
    await store.reset(bucket);
    expect(await admin.exists("rs:{ttl}")).toBe(0);
  });

  it("keys each bucket exactly as earlier versions did, so buckets already in Redis keep counting", async () => {
    const [seconds, micros] = await admin.time();
    const nowUs = Number(seconds) * 1e6 + Number(micros);
    const spec = { capacity: 5, refillTokens: 5, refillPeriodUs: 3600e6 };
    for (const [bucket, key] of PINNED_KEYS) {
      const check = { bucket, spec, cost: 1, shadow: false };
      // Both ways in: evaluate() keys the check itself; evaluateKeyed() gets the key built without
      // the prefix, as from the stores in front of it in production.
      const ways = [() => store.evaluate([check]), () => store.evaluateKeyed(keyedChecks([check], ""))];
      for (const evaluate of ways) {
        // One token left, written by an earlier Floodgate.
        await admin.hset(key, { t: "1", u: String(nowUs) });
        expect(await store.peek(bucket), key).toEqual({ tokens: 1, updatedAtMs: nowUs / 1000 });
        const decision = await evaluate();
        expect(decision.outcomes[0], key).toMatchObject({ sufficient: true, remaining: 0 });
        expect(Number(await admin.hget(key, "t"))).toBeLessThan(0.01);
      }
      await store.reset(bucket);
      expect(await admin.exists(key), key).toBe(0);
    }
  });
});

describe("createRedisClient", () => {
  it("authenticates with the URL's user and password and selects its db", async () => {
    await admin.call("ACL", "SETUSER", "fg-test", "on", ">p@ss:w/rd", "~*", "+@all");
    const password = encodeURIComponent("p@ss:w/rd");
    const url = `redis://fg-test:${password}@127.0.0.1:${server.port}/3`;
    const authed = createRedisClient(url, { timeoutMs: 1000, connectionName: "fg-auth-test" });
    try {
      await waitUntilReady(authed, 5000);
      expect(await authed.call("ACL", "WHOAMI")).toBe("fg-test");
      const info = String(await authed.call("CLIENT", "INFO"));
      expect(info).toMatch(/ name=fg-auth-test /);
      expect(info).toMatch(/ db=3 /);
    } finally {
      authed.disconnect();
    }
  });

  it("fails fast instead of queueing while Redis is unreachable", async () => {
    const port = await freePort();
    const offline = createRedisClient(`redis://127.0.0.1:${port}`, { timeoutMs: 1000 });
    offline.on("error", () => undefined); // connection refused: expected here
    try {
      const started = performance.now();
      const offlineStore = createRedisStore({ client: offline, closeClient: false });
      await expect(offlineStore.evaluate(threeChecks(20))).rejects.toThrow(/enableOfflineQueue/);
      expect(performance.now() - started).toBeLessThan(200);
    } finally {
      offline.disconnect();
    }
  });
});
