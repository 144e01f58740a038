/**
 * Redis Cluster (docs/redis-topologies.md) on a private 3-master cluster started from redis-server
 * binaries. Store level: buckets spread over slots and nodes, one script call per slot,
 * all-or-nothing across slots through charge-and-refund (also when a slot fails), and the whole
 * BucketStore contract for requests within one slot. Server level: a Floodgate on
 * REDIS_CLUSTER_NODES answers ShouldRateLimit and CheckLimit from the cluster.
 */
import calculateSlot from "cluster-key-slot";
import type { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSettings } from "../../src/config/settings.js";
import type { BucketCheck, BucketId } from "../../src/domain/bucket.js";
import type { BucketStore } from "../../src/store/bucket-store.js";
import { bucketKey } from "../../src/store/keys.js";
import { waitUntilReady } from "../harness/redis-helpers.js";
import { createRedisConnection } from "../../src/store/redis/connection.js";
import { StoreError } from "../../src/store/redis/errors.js";
import { createRedisStore } from "../../src/store/redis/redis-store.js";
import { REFUND_LUA, TOKEN_BUCKET_LUA } from "../../src/store/redis/script.js";
import { bucketStoreContract } from "../contract/bucket-store-suite.js";
import type { RedisClusterHandle } from "../harness/redis-cluster.js";
import { deleteByPrefixOnCluster, nodesHolding, startRedisCluster } from "../harness/redis-cluster.js";
import { commandStats, uniquePrefix } from "../harness/redis-helpers.js";
import { metric } from "./support/faults.js";
import type { CheckLimitResult, ProtoResponse, TestServer } from "./support/floodgate.js";
import { call, OK, OVER_LIMIT, rlsRequest, startTestServer } from "./support/floodgate.js";
import { API_RULES, RL_RULES } from "./support/rules.js";

let cluster: RedisClusterHandle;
let client: Cluster;
/** slot → index of the node that owns it. */
let owner: (slot: number) => number;

function clusterClient(timeoutMs: number): Cluster {
  const settings = loadSettings({ REDIS_CLUSTER_NODES: cluster.seeds, REDIS_TIMEOUT_MS: String(timeoutMs) });
  const connection = createRedisConnection({ settings, connectionName: "fg-cluster-test" })!;
  expect(connection.topology).toBe("cluster");
  return connection.client as Cluster;
}

async function slotOwners(): Promise<(slot: number) => number> {
  const ranges = (await cluster.admins[0]!.call("CLUSTER", "SLOTS")) as [number, number, [string, number]][];
  const ports = cluster.nodes.map((node) => node.port);
  return (slot) => {
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)!;
    return ports.indexOf(Number(range[2][1]));
  };
}

beforeAll(async () => {
  cluster = await startRedisCluster();
  owner = await slotOwners();
  client = clusterClient(2000);
  await waitUntilReady(client, 10_000);
  // Scripts cached on every node up front, so call counts never include a NOSCRIPT retry.
  for (const admin of cluster.admins) {
    await admin.script("LOAD", TOKEN_BUCKET_LUA);
    await admin.script("LOAD", REFUND_LUA);
  }
});

afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

/** C tokens refilled at C per hour: a frozen clock for the few ms of a test. */
function check(bucket: BucketId, capacity: number, cost = 1): BucketCheck {
  return { bucket, spec: { capacity, refillTokens: capacity, refillPeriodUs: 3600e6 }, cost, shadow: false };
}

interface Placed {
  readonly bucket: BucketId;
  /** The bucket's key in Redis, prefix included. */
  readonly key: string;
  readonly slot: number;
  readonly node: number;
}

/** One bucket per node (hash tags chosen so), in node order. */
function bucketsOnEveryNode(prefix: string, label: string): [Placed, Placed, Placed] {
  const found = new Map<number, Placed>();
  for (let i = 0; found.size < cluster.nodes.length; i++) {
    const bucket = { domain: "dom", entries: [{ key: label, value: `v${i}` }] };
    const key = bucketKey(bucket, prefix);
    const slot = calculateSlot(key);
    const node = owner(slot);
    if (!found.has(node)) found.set(node, { bucket, key, slot, node });
  }
  const placed = [...found.values()].sort((a, b) => a.node - b.node);
  return [placed[0]!, placed[1]!, placed[2]!];
}

async function evalshaPerNode(): Promise<number[]> {
  return (await Promise.all(cluster.admins.map(commandStats))).map((stats) => stats["evalsha"] ?? 0);
}

describe("redis store on a 3-master cluster", () => {
  let store: BucketStore;
  let prefix: string;
  beforeAll(() => {
    prefix = uniquePrefix("cluster");
    store = createRedisStore({ client, keyPrefix: prefix, closeClient: false });
  });
  afterAll(async () => {
    await deleteByPrefixOnCluster(cluster, prefix);
  });

  it("spreads buckets over slots and nodes, with the slots Redis computes", async () => {
    const spread = bucketsOnEveryNode(prefix, "spread");
    for (const { key, slot } of spread) {
      expect(await cluster.admins[0]!.call("CLUSTER", "KEYSLOT", key)).toBe(slot);
    }
    const decision = await store.evaluate(spread.map(({ bucket }) => check(bucket, 5)));
    expect(decision).toMatchObject({ allowed: true, source: "redis" });
    for (const { key, slot, node } of spread) expect(await nodesHolding(cluster, key, slot)).toEqual([node]);
  });

  it("sends one script call per slot, and one per refunded slot", async () => {
    const [a, b, c] = bucketsOnEveryNode(prefix, "calls");
    // Same hash tag as `a` (the domain and the first entry), so the same slot: one call for both.
    const a2 = { ...a.bucket, entries: [...a.bucket.entries, { key: "extra", value: "1" }] };
    let before = await evalshaPerNode();
    const allowed = await store.evaluate([
      check(a.bucket, 5),
      check(b.bucket, 5),
      check(a2, 5),
      check(c.bucket, 5),
    ]);
    expect(allowed.allowed).toBe(true);
    let after = await evalshaPerNode();
    expect(after.map((n, i) => n - before[i]!)).toEqual([1, 1, 1]);

    await store.evaluate([check(c.bucket, 5, 4)]); // c now holds 0 tokens
    before = await evalshaPerNode();
    const denied = await store.evaluate([check(a.bucket, 5), check(b.bucket, 5), check(c.bucket, 5)]);
    expect(denied.allowed).toBe(false);
    after = await evalshaPerNode();
    // a and b: charge then refund; c: the charge that denied.
    expect(after.map((n, i) => n - before[i]!)).toEqual([2, 2, 1]);
  });

  it("is all or nothing across slots: a denying slot leaves the other slots' buckets as they were", async () => {
    const [a, b, c] = bucketsOnEveryNode(prefix, "aon");
    const [fresh] = bucketsOnEveryNode(prefix, "fresh");
    await store.evaluate([check(a.bucket, 5)]);
    await store.evaluate([check(b.bucket, 5, 2)]);
    await store.evaluate([check(c.bucket, 2, 2)]);
    const before = await Promise.all([a, b, c].map(({ bucket }) => store.peek(bucket)));

    const denied = await store.evaluate([
      check(a.bucket, 5),
      check(fresh.bucket, 3),
      check(b.bucket, 5),
      check(c.bucket, 2),
    ]);
    expect(denied.allowed).toBe(false);
    expect(denied.outcomes.map((o) => o.sufficient)).toEqual([true, true, true, false]);
    // The refunded buckets report what they hold after the refund: as if never charged.
    expect(denied.outcomes.map((o) => o.remaining)).toEqual([4, 3, 3, 0]);
    expect(denied.outcomes[1]!.resetMs).toBe(0);

    const after = await Promise.all([a, b, c].map(({ bucket }) => store.peek(bucket)));
    after.forEach((state, i) => expect(state!.tokens).toBeCloseTo(before[i]!.tokens, 2));
    expect(after[2]).toEqual(before[2]); // the denying slot wrote nothing
    expect(await store.peek(fresh.bucket)).toBeUndefined(); // refunded to full = absent
  });

  it("refunds the charged slots and rethrows a transient error when one slot fails", async () => {
    const [a, b] = bucketsOnEveryNode(prefix, "fail");
    const short = clusterClient(300);
    const shortStore = createRedisStore({ client: short, keyPrefix: prefix, closeClient: false });
    try {
      await waitUntilReady(short, 10_000);
      await shortStore.evaluate([check(a.bucket, 5)]);
      const before = await store.peek(a.bucket);
      cluster.nodes[b.node]!.kill("SIGSTOP");
      const failure = await shortStore
        .evaluate([check(a.bucket, 5), check(b.bucket, 5)])
        .catch((e: unknown) => e);
      cluster.nodes[b.node]!.kill("SIGCONT");
      expect(failure).toBeInstanceOf(StoreError);
      expect(failure).toMatchObject({ transient: true, kind: "timeout" });
      expect((await store.peek(a.bucket))!.tokens).toBeCloseTo(before!.tokens, 2);
    } finally {
      cluster.nodes[b.node]!.kill("SIGCONT");
      short.disconnect();
    }
  });
});

// Within one slot the cluster store is the single-node store: the whole contract holds. The hash
// tag in the prefix puts every key of the suite in one slot (Redis hashes the first {…} only).
bucketStoreContract("redis cluster, one slot", () => {
  const keyPrefix = `${uniquePrefix("cluster-contract")}{one}:`;
  const store = createRedisStore({ client, keyPrefix, closeClient: false });
  return Promise.resolve({
    store,
    source: "redis" as const,
    dispose: async () => {
      await deleteByPrefixOnCluster(cluster, keyPrefix);
    },
  });
});

describe("a Floodgate on REDIS_CLUSTER_NODES", () => {
  let server: TestServer;
  /** Token count of a bucket, read through the cluster client. */
  const tokens = async (key: string): Promise<number> => Number(await client.hget(key, "t"));

  beforeAll(async () => {
    server = await startTestServer({
      rules: { "rl.yaml": RL_RULES, "api.yaml": API_RULES },
      redisUrl: null,
      env: { REDIS_CLUSTER_NODES: cluster.seeds },
    });
  });
  afterAll(async () => {
    if (server === undefined) return;
    await server.stop().finally(() => deleteByPrefixOnCluster(cluster, server.keyPrefix));
  });

  /** A value of `key` whose bucket lives on another node than `other`'s. */
  function valueOnAnotherNode(key: string, other: string): string {
    const slotOf = (k: string, v: string) =>
      calculateSlot(bucketKey({ domain: "rl", entries: [{ key: k, value: v }] }, server.keyPrefix));
    const avoid = owner(slotOf("user", other));
    for (let i = 0; ; i++) if (owner(slotOf(key, `/p${i}`)) !== avoid) return `/p${i}`;
  }

  it("answers ShouldRateLimit from the cluster, all or nothing across nodes", async () => {
    const path = valueOnAnotherNode("path", "carol");
    const request = rlsRequest("rl", [[["user", "carol"]], [["path", path]]]);
    const remaining: number[][] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call<ProtoResponse>(server.rls, "ShouldRateLimit", request);
      expect(res.overall_code).toBe(OK);
      remaining.push(res.statuses.map((s) => s.limit_remaining));
    }
    expect(remaining).toEqual([
      [2, 4],
      [1, 3],
      [0, 2],
    ]);
    const denied = await call<ProtoResponse>(server.rls, "ShouldRateLimit", request);
    expect(denied.overall_code).toBe(OVER_LIMIT);
    expect(denied.statuses.map((s) => [s.code, s.limit_remaining])).toEqual([
      [OVER_LIMIT, 0],
      [OK, 2],
    ]);
    // The path bucket, on another node, was charged then refunded: 2 tokens, not 1.
    const alone = await call<ProtoResponse>(
      server.rls,
      "ShouldRateLimit",
      rlsRequest("rl", [[["path", path]]]),
    );
    expect(alone.statuses[0]!.limit_remaining).toBe(1);
    expect(await metric(server.app.metrics.registry, "floodgate_decisions_total", { source: "redis" })).toBe(
      5,
    );
  });

  it("answers CheckLimit from the cluster, refunding the endpoint bucket of a denied call", async () => {
    const check = (user_id: string, endpoint: string) =>
      call<CheckLimitResult>(server.rateLimiter, "CheckLimit", {
        user_id,
        endpoint,
        weight: 1,
      });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await check("dave", "/orders"));
    expect(results.map((r) => [r.allowed, r.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
    const endpointKey = `${server.keyPrefix}{api|endpoint=/orders}`;
    const userKey = `${server.keyPrefix}{api|user_id=dave}`;
    expect(calculateSlot(endpointKey)).not.toBe(calculateSlot(userKey));
    // Whole tokens: these buckets refill by about 0.002 token per ms meanwhile.
    expect(Math.floor(await tokens(endpointKey))).toBe(97); // 100 - 3 allowed; the denied call was refunded
    expect(Math.floor(await tokens(userKey))).toBe(2); // 5 - 3
  });
});
