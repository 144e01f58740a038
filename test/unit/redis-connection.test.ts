/**
 * createRedisConnection without servers: which topology each setting picks, the fail-fast client
 * options, TLS files read once (an unreadable one is a SettingsError), descriptions free of
 * secrets, and the classification of the Cluster and Sentinel errors ioredis raises.
 * (Connecting for real: test/integration/redis-{cluster,sentinel,tls}.test.ts.)
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Cluster, Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadSettings, SettingsError } from "../../src/config/settings.js";
import type { RedisConnection } from "../../src/store/redis/connection.js";
import { createRedisConnection, parseHostPort, redisTlsOptions } from "../../src/store/redis/connection.js";
import { classifyRedisError } from "../../src/store/redis/errors.js";

const SECRET = "s3cr3t-pw";
/** Nothing listens there: the clients created here fail to connect, quietly, until disconnected. */
const NOWHERE = "127.0.0.1:1";

let dir: string;
const opened: RedisConnection[] = [];

function connect(env: Record<string, string>): RedisConnection {
  const connection = createRedisConnection({ settings: loadSettings({ REDIS_TIMEOUT_MS: "15", ...env }) })!;
  connection.client.on("error", () => undefined);
  opened.push(connection);
  return connection;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "fg-conn-"));
  await writeFile(join(dir, "ca.pem"), "CA PEM");
  await writeFile(join(dir, "cert.pem"), "CERT PEM");
  await writeFile(join(dir, "key.pem"), "KEY PEM");
});
afterEach(() => {
  for (const connection of opened.splice(0)) connection.client.disconnect();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("createRedisConnection", () => {
  it("returns undefined when no Redis is configured", () => {
    expect(createRedisConnection({ settings: loadSettings({}) })).toBeUndefined();
  });

  it("builds a single-node client from REDIS_URL, falling back to REDIS_USERNAME/PASSWORD", () => {
    const fromUrl = connect({ REDIS_URL: `redis://app:${SECRET}@${NOWHERE}/2` });
    expect(fromUrl.topology).toBe("single");
    expect((fromUrl.client as Redis).options).toMatchObject({ username: "app", password: SECRET, db: 2 });
    expect(fromUrl.description).toBe("redis redis://127.0.0.1:1/2");
    const fromEnv = connect({
      REDIS_URL: `redis://${NOWHERE}`,
      REDIS_USERNAME: "env",
      REDIS_PASSWORD: SECRET,
    });
    expect((fromEnv.client as Redis).options).toMatchObject({ username: "env", password: SECRET });
  });

  it("builds a Sentinel client with the master name, credentials and a failover detector", () => {
    const connection = connect({
      REDIS_SENTINELS: `${NOWHERE},127.0.0.1:2`,
      REDIS_SENTINEL_MASTER: "mymaster",
      REDIS_SENTINEL_PASSWORD: SECRET,
      REDIS_PASSWORD: SECRET,
    });
    expect(connection.topology).toBe("sentinel");
    expect((connection.client as Redis).options).toMatchObject({
      name: "mymaster",
      role: "master",
      sentinels: [
        { host: "127.0.0.1", port: 1 },
        { host: "127.0.0.1", port: 2 },
      ],
      sentinelPassword: SECRET,
      password: SECRET,
      failoverDetector: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 250,
    });
    expect(connection.description).toBe("redis-sentinel master=mymaster sentinels=127.0.0.1:1,127.0.0.1:2");
  });

  it("builds a Cluster client that fails fast and never resends a command that may have run", () => {
    const connection = connect({
      REDIS_CLUSTER_NODES: NOWHERE,
      REDIS_PASSWORD: SECRET,
      REDIS_USERNAME: "app",
    });
    expect(connection.topology).toBe("cluster");
    const options = (connection.client as Cluster).options;
    expect(options).toMatchObject({
      enableOfflineQueue: false,
      scaleReads: "master",
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      redisOptions: { commandTimeout: 250, maxRetriesPerRequest: 0, password: SECRET, username: "app" },
    });
    expect(connection.description).toBe("redis-cluster seeds=127.0.0.1:1");
  });

  it("never puts a secret in a description", () => {
    const descriptions = [
      connect({ REDIS_URL: `rediss://u:${SECRET}@${NOWHERE}` }),
      connect({ REDIS_SENTINELS: NOWHERE, REDIS_SENTINEL_MASTER: "m", REDIS_SENTINEL_PASSWORD: SECRET }),
      connect({ REDIS_CLUSTER_NODES: NOWHERE, REDIS_PASSWORD: SECRET }),
    ].map((c) => c.description);
    for (const description of descriptions) expect(description).not.toContain(SECRET);
    expect(descriptions[0]).toBe("redis rediss://127.0.0.1:1/0");
  });
});

describe("TLS settings", () => {
  it("reads the CA, certificate and key files once", () => {
    const tls = redisTlsOptions({
      enabled: true,
      caFile: join(dir, "ca.pem"),
      certFile: join(dir, "cert.pem"),
      keyFile: join(dir, "key.pem"),
    });
    expect(tls).toEqual({
      ca: Buffer.from("CA PEM"),
      cert: Buffer.from("CERT PEM"),
      key: Buffer.from("KEY PEM"),
    });
    const connection = connect({
      REDIS_CLUSTER_NODES: NOWHERE,
      REDIS_TLS: "true",
      REDIS_TLS_CA_FILE: join(dir, "ca.pem"),
    });
    expect((connection.client as Cluster).options.redisOptions?.tls).toEqual({ ca: Buffer.from("CA PEM") });
    expect(connection.description).toBe("redis-cluster seeds=127.0.0.1:1 (tls)");
  });

  it("stops on an unreadable file with a SettingsError naming the variable", () => {
    const missing = join(dir, "missing.pem");
    const env = { REDIS_URL: `rediss://${NOWHERE}`, REDIS_TLS_CA_FILE: missing };
    expect(() => createRedisConnection({ settings: loadSettings(env) })).toThrow(
      new SettingsError([`REDIS_TLS_CA_FILE: cannot read ${JSON.stringify(missing)} (ENOENT)`]),
    );
  });

  it("turns TLS on for redis:// with REDIS_TLS=true and says so", () => {
    const connection = connect({ REDIS_URL: `redis://${NOWHERE}`, REDIS_TLS: "true" });
    expect((connection.client as Redis).options.tls).toEqual({});
    expect(connection.description).toBe("redis redis://127.0.0.1:1/0 (tls)");
  });
});

describe("parseHostPort and error classification", () => {
  it("splits host:port", () => {
    expect(parseHostPort("redis-0.redis:6380")).toEqual({ host: "redis-0.redis", port: 6380 });
  });

  it.each([
    ["Cluster is disconnected.", "connection"],
    ["Node is disconnected", "connection"],
    ["None of startup nodes is available", "connection"],
    ["Cluster isn't ready and enableOfflineQueue options is false", "connection"],
    ["failed to connect to sentinel 127.0.0.1:1 because timeout", "timeout"],
    ["All sentinels are unreachable. Retrying from scratch after 100ms.", "connection"],
    ["CLUSTERDOWN The cluster is down", "cluster"],
    ["TRYAGAIN Multiple keys request during rehashing of slot", "cluster"],
    ["Too many Cluster redirections. Last error: MOVED 12 127.0.0.1:7001", "cluster"],
    ["READONLY You can't write against a read only replica.", "readonly"],
    ["CROSSSLOT Keys in request don't hash to the same slot", "bug"],
  ])("classifies %j as %s", (message, kind) => {
    const error = classifyRedisError(new Error(message));
    expect(error.kind).toBe(kind);
    expect(error.transient).toBe(kind !== "bug");
  });
});
