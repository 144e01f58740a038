/**
 * One Redis connection for the configured topology: a single node (REDIS_URL), Sentinel
 * (REDIS_SENTINELS + REDIS_SENTINEL_MASTER) or Cluster (REDIS_CLUSTER_NODES). Settings allow one
 * of the three at most; none means "no Redis" (undefined).
 *
 * Every topology keeps the fail-fast choices of `baseRedisOptions` (no offline queue, no replay of
 * a command in flight, a REDIS_TIMEOUT_MS deadline per decision): a decision must come back within the
 * deadline or fall back to the local store, never wait for a reconnect.
 *
 * The settings are checked already (config/settings-checks.ts). TLS files are read once, here at
 * startup, so an unreadable file stops the process (a SettingsError naming the variable) instead
 * of failing every reconnect. `description` is for logs: it never holds a password (nor the
 * username: ACL names can be telling, and nothing needs them in a log line).
 */
import type { ConnectionOptions } from "node:tls";
import { Cluster, Redis } from "ioredis";
import type { ClusterOptions, RedisOptions } from "ioredis";
import { readSettingFileSync } from "../../config/setting-files.js";
import type { RedisSentinelSettings, Settings } from "../../config/settings.js";
import { redactRedisUrl } from "../../config/redis-url.js";
import { baseRedisOptions, createRedisClient } from "./client.js";
import type { RedisClientOptions } from "./client.js";

export type RedisConnectionSettings = Pick<
  Settings,
  | "redisUrl"
  | "redisClusterNodes"
  | "redisSentinel"
  | "redisUsername"
  | "redisPassword"
  | "redisTls"
  | "redisTimeoutMs"
>;

export type RedisTopology = "single" | "sentinel" | "cluster";

export interface RedisConnection {
  readonly client: Redis | Cluster;
  readonly topology: RedisTopology;
  /** For logs and the startup line; never holds a secret. */
  readonly description: string;
}

export interface RedisConnectionOptions {
  readonly settings: RedisConnectionSettings;
  /** Shown by CLIENT LIST. Default "floodgate". */
  readonly connectionName?: string;
}

const MAX_BACKOFF_MS = 2000;
/** Deadline for each query to a Sentinel (where is the master?) and for a slot map refresh. */
const DISCOVERY_TIMEOUT_MS = 1000;

/** Node TLS options from the REDIS_TLS_* files, or undefined when TLS is off. */
export function redisTlsOptions(tls: RedisConnectionSettings["redisTls"]): ConnectionOptions | undefined {
  if (!tls.enabled) return undefined;
  const options: ConnectionOptions = {};
  if (tls.caFile !== undefined) options.ca = readSettingFileSync("REDIS_TLS_CA_FILE", tls.caFile);
  if (tls.certFile !== undefined) options.cert = readSettingFileSync("REDIS_TLS_CERT_FILE", tls.certFile);
  if (tls.keyFile !== undefined) options.key = readSettingFileSync("REDIS_TLS_KEY_FILE", tls.keyFile);
  return options;
}

/** `host:port` as validated by settings (no IPv6 brackets there). */
export function parseHostPort(text: string): { host: string; port: number } {
  const at = text.lastIndexOf(":");
  return { host: text.slice(0, at), port: Number(text.slice(at + 1)) };
}

function tlsSuffix(tls: ConnectionOptions | undefined): string {
  return tls === undefined ? "" : " (tls)";
}

function clientOptions(options: RedisConnectionOptions): RedisClientOptions {
  return {
    timeoutMs: options.settings.redisTimeoutMs,
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
  };
}

function single(url: string, options: RedisConnectionOptions): RedisConnection {
  const { settings } = options;
  const tls = redisTlsOptions(settings.redisTls);
  const client = createRedisClient(url, {
    ...clientOptions(options),
    ...(tls === undefined ? {} : { tls }),
    ...(settings.redisUsername === undefined ? {} : { username: settings.redisUsername }),
    ...(settings.redisPassword === undefined ? {} : { password: settings.redisPassword }),
  });
  // redactRedisUrl names the scheme: "(tls)" is only added when REDIS_TLS turned it on for redis://.
  const redacted = redactRedisUrl(url);
  const forced = tls !== undefined && redacted.startsWith("redis:");
  return { client, topology: "single", description: `redis ${redacted}${forced ? " (tls)" : ""}` };
}

/**
 * Sentinel: ioredis asks the Sentinels for the master named REDIS_SENTINEL_MASTER and reconnects through
 * them.
 * - failoverDetector: subscribes to +switch-master, so a failover moves the connection at once
 *   instead of when the demoted master next drops it;
 * - REDIS_TLS covers both the Sentinels and the data nodes (one switch, one CA);
 * - a Sentinel query has its own deadline, so a frozen Sentinel cannot stall reconnection.
 */
function sentinel(
  { sentinels, master, password }: RedisSentinelSettings,
  options: RedisConnectionOptions,
): RedisConnection {
  const { settings } = options;
  const tls = redisTlsOptions(settings.redisTls);
  const redisOptions: RedisOptions = {
    ...baseRedisOptions(clientOptions(options)),
    sentinels: sentinels.map(parseHostPort),
    name: master,
    role: "master",
    username: settings.redisUsername,
    password: settings.redisPassword,
    sentinelPassword: password,
    sentinelCommandTimeout: DISCOVERY_TIMEOUT_MS,
    sentinelRetryStrategy: (attempt: number) => Math.min(attempt * 100, MAX_BACKOFF_MS),
    failoverDetector: true,
    ...(tls === undefined ? {} : { tls, sentinelTLS: tls, enableTLSForSentinelMode: true }),
  };
  return {
    client: new Redis(redisOptions),
    topology: "sentinel",
    description: `redis-sentinel master=${master} sentinels=${sentinels.join(",")}${tlsSuffix(tls)}`,
  };
}

/**
 * Cluster options, chosen for a non-idempotent script under a short deadline:
 * - enableOfflineQueue false: while the slot map is not loaded a call fails at once;
 * - retryDelayOnFailover 0: a command that met "Connection is closed" may already have run (and
 *   taken tokens), so it is not resent; the caller falls back instead;
 * - retryDelayOnClusterDown 0: CLUSTERDOWN fails at once rather than after a 100 ms delay that the
 *   deadline could never absorb;
 * - MOVED/ASK (the command did not run) are followed, at most a few times: one or two are normal
 *   after a resharding, more means the map is in flux and the deadline is better spent elsewhere;
 * - scaleReads "master": buckets are read and written by one script, only masters can run it;
 * - slotsRefreshTimeout bounds a map refresh; clusterRetryStrategy reconnects with a capped backoff
 *   when no seed answers (node connections themselves are not retried: ioredis refreshes the map).
 * commandTimeout is per command and covers redirections (ioredis starts its timer once).
 */
function clusterOptions(options: RedisConnectionOptions, tls: ConnectionOptions | undefined): ClusterOptions {
  const { settings } = options;
  // Cluster owns these two for the node connections (its redisOptions type omits them).
  const {
    retryStrategy: _retry,
    enableOfflineQueue: _queue,
    ...nodeOptions
  } = baseRedisOptions(clientOptions(options));
  return {
    redisOptions: {
      ...nodeOptions,
      username: settings.redisUsername,
      password: settings.redisPassword,
      ...(tls === undefined ? {} : { tls }),
    },
    enableOfflineQueue: false,
    enableReadyCheck: true,
    enableAutoPipelining: false, // slower in make bench; see baseRedisOptions
    scaleReads: "master",
    maxRedirections: 4,
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    retryDelayOnMoved: 0,
    slotsRefreshTimeout: DISCOVERY_TIMEOUT_MS,
    clusterRetryStrategy: (attempt: number) => Math.min(attempt * 100, MAX_BACKOFF_MS),
  };
}

function cluster(seeds: readonly string[], options: RedisConnectionOptions): RedisConnection {
  const tls = redisTlsOptions(options.settings.redisTls);
  return {
    client: new Cluster(seeds.map(parseHostPort), clusterOptions(options, tls)),
    topology: "cluster",
    description: `redis-cluster seeds=${seeds.join(",")}${tlsSuffix(tls)}`,
  };
}

/**
 * The client for the configured topology, already connecting (see `firstConnection`), or
 * undefined when no Redis is configured. Throws a SettingsError when a TLS file is unreadable.
 */
export function createRedisConnection(options: RedisConnectionOptions): RedisConnection | undefined {
  const { settings } = options;
  if (settings.redisClusterNodes !== undefined) return cluster(settings.redisClusterNodes, options);
  if (settings.redisSentinel !== undefined) return sentinel(settings.redisSentinel, options);
  if (settings.redisUrl !== undefined) return single(settings.redisUrl, options);
  return undefined;
}
