/**
 * Redis client construction for one node from a URL. The Sentinel and Cluster builders
 * (connection.ts) reuse `baseRedisOptions` so every topology fails the same way under the same
 * deadline.
 *
 * Choices, all in favour of deciding within the deadline and falling back (docs/redis-topologies.md):
 * - no offline queue: while disconnected a command fails at once instead of waiting;
 * - maxRetriesPerRequest 0: a command in flight when the connection drops is not replayed. The
 *   token script is not idempotent (the server may already have taken the tokens);
 * - commandTimeout = a backstop above the per-call deadline, which the store enforces;
 * - no auto-pipelining (it measured slower);
 * - reconnect forever with a capped backoff, so the breaker can find Redis back;
 * - READONLY (a master demoted by a failover still holds our connection) reconnects, so Sentinel
 *   resolves the new master; the failed command is not resent (same reason as above).
 * The password never reaches a log or an error message: use `redactRedisUrl` (config/redis-url.ts)
 * to describe a URL.
 */
import type { ConnectionOptions } from "node:tls";
import { Redis } from "ioredis";
import type { RedisOptions } from "ioredis";
import { parseRedisUrl } from "../../config/redis-url.js";

export interface RedisClientOptions {
  /** Per-command deadline in ms (REDIS_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** TCP connect deadline in ms. Default 2000. */
  readonly connectTimeoutMs?: number;
  /** Shown by CLIENT LIST. Default "floodgate". */
  readonly connectionName?: string;
  /** TLS options (CA, client cert and key). Given: TLS even for redis://; rediss:// alone: Node's defaults. */
  readonly tls?: ConnectionOptions;
  /** ACL user and password used when the URL carries none (REDIS_USERNAME, REDIS_PASSWORD). */
  readonly username?: string;
  readonly password?: string;
}

const MAX_BACKOFF_MS = 2000;

/** A generous ceiling for any single command, well above the per-request deadline. */
export function backstopMs(timeoutMs: number): number {
  return Math.max(timeoutMs * 5, 250);
}

/** Options every topology shares: the single node, Sentinel and the Cluster's nodes (connection.ts). */
export function baseRedisOptions(options: RedisClientOptions): RedisOptions {
  return {
    // The decision deadline itself is enforced by the store (deadline.ts), which does not blame
    // Redis for the event loop's own lag; this only backstops commands that never come back.
    commandTimeout: backstopMs(options.timeoutMs),
    connectTimeout: options.connectTimeoutMs ?? 2000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Measured with make bench: auto-pipelining's per-command bookkeeping cost more than the
    // batching saved (24k vs 19k req/s for one descriptor on Redis); the script is one command.
    enableAutoPipelining: false,
    lazyConnect: false,
    connectionName: options.connectionName ?? "floodgate",
    retryStrategy: (attempt: number) => Math.min(attempt * 100, MAX_BACKOFF_MS),
    reconnectOnError: (error: Error) => error.message.startsWith("READONLY"),
  };
}

/** A client for one Redis node. It starts connecting at once (app/store-factory.ts waits for it). */
export function createRedisClient(url: string, options: RedisClientOptions): Redis {
  const endpoint = parseRedisUrl(url);
  return new Redis({
    ...baseRedisOptions(options),
    host: endpoint.host,
    port: endpoint.port,
    db: endpoint.db,
    username: endpoint.username ?? options.username,
    password: endpoint.password ?? options.password,
    // Node's TLS checks the certificate against the host (IP or DNS name) by default.
    ...(options.tls !== undefined ? { tls: options.tls } : endpoint.tls ? { tls: {} } : {}),
  });
}
