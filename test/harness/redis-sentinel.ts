/**
 * A private Sentinel setup for tests: one master, one replica and one Sentinel (quorum 1), all
 * from redis-server binaries on free loopback ports. Short down-after and failover timeouts keep a
 * failover to about a second. `failover()` asks the Sentinel for a manual failover (SENTINEL
 * FAILOVER) and waits until the replica is the master that Sentinel reports. Only the servers
 * started here are ever stopped.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort, sleep, tailOutput, terminate, track } from "./processes.js";
import type { RedisServer } from "./redis-server.js";
import { pingPort, redisServerBin, startRedisServer } from "./redis-server.js";

export const SENTINEL_MASTER_NAME = "fgmaster";

export interface RedisSentinelHandle {
  /** The two data nodes; which one is master changes with `failover()`. */
  readonly servers: readonly RedisServer[];
  readonly sentinelPort: number;
  /** "127.0.0.1:<port>" as REDIS_SENTINELS wants it. */
  readonly sentinels: string;
  readonly masterName: string;
  /** The port Sentinel currently reports for the master. */
  masterPort(): Promise<number>;
  /** Manual failover; resolves with the new master's port once Sentinel and the node agree. */
  failover(timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await sleep(50);
  }
}

async function startSentinelProcess(
  masterPort: number,
): Promise<{ child: ChildProcess; port: number; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "fg-sentinel-"));
  const port = await freePort();
  const conf = join(dir, "sentinel.conf");
  // Sentinel rewrites its config file, so it must be a real, writable file.
  await writeFile(
    conf,
    [
      `port ${port}`,
      "bind 127.0.0.1",
      `dir ${dir}`,
      `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} 1000`,
      `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 3000`,
      `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
      "",
    ].join("\n"),
  );
  const child = spawn(redisServerBin(), [conf, "--sentinel"], { stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  const output = tailOutput(child);
  try {
    await until("sentinel PING", 10_000, async () => ((await pingPort(port)) ? true : undefined));
  } catch (error) {
    await terminate(child);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(error as Error).message}; output: ${output()}`);
  }
  return { child, port, dir };
}

/** One entry of SENTINEL REPLICAS: a flat field/value list. */
function isGoodReplica(fields: readonly string[]): boolean {
  const get = (name: string) => fields[fields.indexOf(name) + 1];
  return get("flags") === "slave" && get("master-link-status") === "ok";
}

function role(client: Redis): Promise<string> {
  return client.call("ROLE").then((reply) => String((reply as unknown[])[0]));
}

/** Master and replica, the replica in sync. Pushed onto `servers` as they start (for cleanup). */
async function startDataNodes(servers: RedisServer[]): Promise<void> {
  // No delay before a full sync (Redis 7 waits 5 s by default for more replicas to join).
  const noDelay = ["--repl-diskless-sync-delay", "0"];
  servers.push(await startRedisServer({ args: noDelay }));
  servers.push(
    await startRedisServer({ args: ["--replicaof", "127.0.0.1", String(servers[0]!.port), ...noDelay] }),
  );
  const replica = new Redis(servers[1]!.url, { maxRetriesPerRequest: 1 });
  try {
    await until("replica in sync", 10_000, async () =>
      /master_link_status:up/.test(await replica.info("replication")) ? true : undefined,
    );
  } finally {
    replica.disconnect();
  }
}

/** Sentinel's view of the master, and a manual failover through it. */
function sentinelControls(admin: Redis): Pick<RedisSentinelHandle, "masterPort" | "failover"> {
  const masterPort = async (): Promise<number> => {
    const addr = (await admin.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER_NAME)) as string[];
    return Number(addr[1]);
  };
  const failover = async (timeoutMs = 15_000): Promise<number> => {
    const before = await masterPort();
    await admin.call("SENTINEL", "FAILOVER", SENTINEL_MASTER_NAME);
    const next = await until("sentinel reports a new master", timeoutMs, async () => {
      const port = await masterPort();
      return port !== before ? port : undefined;
    });
    // Sentinel reports the new address before its failover state machine is done; another
    // SENTINEL FAILOVER before that would get INPROG.
    await until("sentinel failover finished", timeoutMs, async () => {
      const fields = (await admin.call("SENTINEL", "MASTER", SENTINEL_MASTER_NAME)) as string[];
      return fields[fields.indexOf("flags") + 1] === "master" ? true : undefined;
    });
    const node = new Redis({ port: next, host: "127.0.0.1", maxRetriesPerRequest: 1 });
    try {
      await until("promoted node is master", timeoutMs, async () =>
        (await role(node)) === "master" ? true : undefined,
      );
    } finally {
      node.disconnect();
    }
    return next;
  };
  return { masterPort, failover };
}

/** Starts master, replica (synced) and Sentinel (which already deems the replica good). */
export async function startRedisSentinel(): Promise<RedisSentinelHandle> {
  const servers: RedisServer[] = [];
  let admin: Redis | undefined;
  let sentinel: { child: ChildProcess; port: number; dir: string } | undefined;
  const stop = async (): Promise<void> => {
    admin?.disconnect();
    if (sentinel !== undefined) await terminate(sentinel.child);
    await Promise.all(servers.map((server) => server.stop()));
    if (sentinel !== undefined) await rm(sentinel.dir, { recursive: true, force: true });
  };
  try {
    await startDataNodes(servers);
    sentinel = await startSentinelProcess(servers[0]!.port);
    const client = new Redis({ port: sentinel.port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
    admin = client;
    // SENTINEL FAILOVER needs a replica Sentinel deems good: discovered (through INFO on the
    // master), connected, and reporting its link to the master up; else NOGOODSLAVE.
    await until("sentinel sees a good replica", 15_000, async () => {
      const replicas = (await client.call("SENTINEL", "REPLICAS", SENTINEL_MASTER_NAME)) as string[][];
      return replicas.some(isGoodReplica) ? true : undefined;
    });
    const port = sentinel.port;
    return {
      servers,
      sentinelPort: port,
      sentinels: `127.0.0.1:${port}`,
      masterName: SENTINEL_MASTER_NAME,
      ...sentinelControls(client),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
