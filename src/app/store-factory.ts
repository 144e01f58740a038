import type { Cluster, Redis } from "ioredis";
import type { Settings } from "../config/settings.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { BucketStore } from "../store/bucket-store.js";
import type { FallbackEvents } from "../store/fallback-store.js";
import { createFallbackStore } from "../store/fallback-store.js";
import type { MemoryStore } from "../store/local/memory-store.js";
import { createMemoryStore } from "../store/local/memory-store.js";
import { withOverLimitCache } from "../store/over-limit-cache.js";
import { createRedisConnection } from "../store/redis/connection.js";
import { firstConnection, followConnection, pingWithin } from "../store/redis/connection-state.js";
import { createRedisStore } from "../store/redis/redis-store.js";

export interface StoreHandle {
  readonly store: BucketStore;
  /** Health components of the store, e.g. {redis: "ok"} or {redis: "degraded"}: states, never reasons. */
  readonly components: () => Readonly<Record<string, string>>;
  readonly description: string;
}

export interface StoreDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * How long startup waits for a first Redis connection before serving (from the fallback) anyway.
 * A failed attempt (a refused connection) ends the wait at once.
 */
const STARTUP_CONNECT_MS = 3000;

function localStore(settings: Settings, metrics: Metrics): MemoryStore {
  const store = createMemoryStore({
    maxBuckets: settings.localMaxBuckets,
    onEvict: () => metrics.localEvictions.inc(),
  });
  metrics.trackLocalBuckets(() => store.size());
  return store;
}

/** Transitions are the alert: one log line, the gauge and a counter, each time. */
function fallbackEvents({ logger, metrics }: StoreDeps): FallbackEvents {
  return {
    onEnter: (reason) => {
      metrics.fallbackActive.set(1);
      metrics.fallbackTransitions.inc({ to: "local" });
      logger.error(
        { reason },
        "redis unavailable: fallback to the local store (fail open, limits are per process)",
      );
    },
    onExit: () => {
      metrics.fallbackActive.set(0);
      metrics.fallbackTransitions.inc({ to: "redis" });
      logger.info("redis is back: decisions come from redis again");
    },
    onFallbackDecision: () => metrics.fallbackDecisions.inc(),
    onRedisError: (kind) => metrics.redisErrors.inc({ kind }),
    onRedisCall: (seconds) => metrics.redisDuration.observe(seconds),
  };
}

/** ioredis reports every reconnect attempt; the fallback transitions are the real alert. */
function quietErrors(client: Redis | Cluster, logger: Logger): void {
  client.on("error", (err: Error) => logger.debug({ reason: err.message }, "redis client error"));
}

/** Redis when configured (with the local store as fallback), otherwise the local store alone. */
export async function createStore(settings: Settings, deps: StoreDeps): Promise<StoreHandle> {
  const local = localStore(settings, deps.metrics);
  const connection = createRedisConnection({ settings });
  if (connection === undefined) {
    deps.logger.warn(
      { maxBuckets: settings.localMaxBuckets },
      "no Redis configured: using the in-memory store; limits are per process, not shared between replicas",
    );
    return { store: local, components: () => ({ store: "memory" }), description: "memory" };
  }
  const { client } = connection;
  quietErrors(client, deps.logger);
  const fallback = createFallbackStore({
    primary: createRedisStore({
      client,
      keyPrefix: settings.redisKeyPrefix,
      deadlineMs: settings.redisTimeoutMs,
      onRefundError: (err) =>
        deps.logger.warn({ reason: String(err) }, "cross-slot refund failed; a bucket may stay charged"),
    }),
    local,
    divisor: settings.fallbackDivisor,
    failures: settings.breakerFailures,
    cooldownMs: settings.breakerCooldownMs,
    maxCooldownMs: settings.breakerMaxCooldownMs,
    events: fallbackEvents(deps),
    idleProbe: {
      run: () => pingWithin(client, settings.redisTimeoutMs),
      intervalMs: settings.redisIdlePingMs,
    },
  });
  // The state follows the connection from the start: a Redis that cannot be reached is reported
  // (gauge, /readyz, the alert) before any request comes.
  followConnection(client, { lost: fallback.connectionLost, ready: fallback.connectionReady });
  await firstConnection(client, STARTUP_CONNECT_MS).catch((err: unknown) => {
    fallback.connectionLost(err instanceof Error ? err.message : String(err));
  });
  return {
    store: withOverLimitCache(fallback, { maxEntries: settings.overLimitCacheSize }),
    components: () => ({ redis: fallback.status() }),
    description: connection.description,
  };
}
