/**
 * A private 3-master Redis Cluster for tests, from redis-server binaries on free loopback ports.
 *
 * Each node gets its own temp dir (its nodes.conf lives there) and an explicit cluster bus port
 * (`--cluster-port`): the default bus port is port + 10000, which may be taken or above 65535 for
 * an ephemeral port. `redis-cli --cluster create` assigns the slots and joins the nodes; then we
 * poll until every node reports cluster_state:ok. Only the nodes started here are ever stopped.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort, sleep } from "./processes.js";
import type { RedisServer } from "./redis-server.js";
import { startRedisServer } from "./redis-server.js";

const run = promisify(execFile);

export interface RedisClusterHandle {
  readonly nodes: readonly RedisServer[];
  /** "127.0.0.1:p1,127.0.0.1:p2,…" as REDIS_CLUSTER_NODES wants it. */
  readonly seeds: string;
  /** A plain client per node (no cluster redirection), for CLUSTER and INFO commands in tests. */
  readonly admins: readonly Redis[];
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  readonly masters?: number;
  readonly readyTimeoutMs?: number;
}

function redisCliBin(): string {
  return process.env.REDIS_CLI_BIN ?? "redis-cli";
}

async function startNode(busPorts: Set<number>): Promise<RedisServer> {
  let bus = await freePort();
  while (busPorts.has(bus)) bus = await freePort();
  busPorts.add(bus);
  return startRedisServer({
    args: [
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      "nodes.conf",
      "--cluster-port",
      String(bus),
      "--cluster-node-timeout",
      "3000",
    ],
  });
}

async function clusterState(admin: Redis): Promise<string> {
  const info = String(await admin.call("CLUSTER", "INFO"));
  return /cluster_state:(\w+)/.exec(info)?.[1] ?? "unknown";
}

async function waitForOk(admins: readonly Redis[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(admins.map(clusterState));
    if (states.every((state) => state === "ok")) return;
    if (Date.now() > deadline) throw new Error(`cluster not ok after ${timeoutMs} ms: ${states.join(",")}`);
    await sleep(50);
  }
}

/** Starts `masters` nodes (default 3), creates the cluster and waits until all report ok. */
export async function startRedisCluster(options: StartClusterOptions = {}): Promise<RedisClusterHandle> {
  const count = options.masters ?? 3;
  const busPorts = new Set<number>();
  const nodes: RedisServer[] = [];
  const admins: Redis[] = [];
  const stop = async (): Promise<void> => {
    for (const admin of admins) admin.disconnect();
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < count; i++) nodes.push(await startNode(busPorts));
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run(
      redisCliBin(),
      ["--cluster", "create", ...addresses, "--cluster-replicas", "0", "--cluster-yes"],
      {
        timeout: 30_000,
      },
    );
    for (const node of nodes)
      admins.push(new Redis(node.url, { lazyConnect: false, maxRetriesPerRequest: 1 }));
    await waitForOk(admins, options.readyTimeoutMs ?? 15_000);
    return { nodes, seeds: addresses.join(","), admins, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Deletes the keys starting with `prefix` on every node, one key per UNLINK (a multi-key UNLINK
 * would be CROSSSLOT). Never FLUSH: the keys of other tests stay.
 */
export async function deleteByPrefixOnCluster(cluster: RedisClusterHandle, prefix: string): Promise<void> {
  if (prefix.length < 4) throw new Error(`refusing to delete by the short prefix "${prefix}"`);
  const pattern = `${prefix.replace(/[*?[\]\\]/g, (ch) => `\\${ch}`)}*`;
  for (const admin of cluster.admins) {
    let cursor = "0";
    do {
      const [next, keys] = await admin.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      for (const key of keys) await admin.unlink(key);
    } while (cursor !== "0");
  }
}

/** Which nodes hold `key` (by asking each node for the keys of its slot; no redirection). */
export async function nodesHolding(
  cluster: RedisClusterHandle,
  key: string,
  slot: number,
): Promise<number[]> {
  const held = await Promise.all(
    cluster.admins.map(async (admin) => {
      const keys = (await admin.call("CLUSTER", "GETKEYSINSLOT", slot, 1000)) as string[];
      return keys.includes(key);
    }),
  );
  return held.flatMap((yes, i) => (yes ? [i] : []));
}
