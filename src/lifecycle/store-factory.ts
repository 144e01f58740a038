import type { Redis } from "ioredis";
import type { Settings } from "../config/settings.js";
import type { Logger } from "../observability/logger.js";
import type { BucketStore } from "../store/bucket-store.js";
import { createMemoryStore } from "../store/local/memory-store.js";
import { createRedisClient, redactRedisUrl, waitUntilReady } from "../store/redis/client.js";
import { createRedisStore } from "../store/redis/redis-store.js";
import { withUnavailableErrors } from "../store/unavailable.js";

export interface StoreHandle {
  readonly store: BucketStore;
  /** "ok", or why the store is degraded; read by /readyz. */
  readonly status: () => string;
  readonly description: string;
}

/** How long startup waits for a first Redis connection before serving anyway. */
const STARTUP_CONNECT_MS = 3000;

/** Logs connection state changes once each, not every reconnect attempt. */
function watchConnection(client: Redis, logger: Logger): void {
  let healthy = true;
  client.on("error", (err: Error) => {
    if (!healthy) return;
    healthy = false;
    logger.error({ reason: err.message }, "redis connection failed; rate limit calls fail until it is back");
  });
  client.on("ready", () => {
    if (healthy) return;
    healthy = true;
    logger.info("redis connection restored");
  });
}

/** Redis when REDIS_URL is set, otherwise the in-process store (limits are then per process). */
export async function createStore(settings: Settings, logger: Logger): Promise<StoreHandle> {
  if (settings.redisUrl === undefined) {
    logger.warn(
      { maxBuckets: settings.localMaxBuckets },
      "REDIS_URL is not set: using the in-memory store; limits are per process, not shared between replicas",
    );
    return {
      store: createMemoryStore({ maxBuckets: settings.localMaxBuckets }),
      status: () => "ok",
      description: "memory",
    };
  }
  const client = createRedisClient(settings.redisUrl, { timeoutMs: settings.redisTimeoutMs });
  watchConnection(client, logger);
  await waitUntilReady(client, STARTUP_CONNECT_MS).catch((err: unknown) => {
    logger.error({ reason: String(err) }, "redis is not reachable yet; serving anyway and retrying");
  });
  return {
    store: withUnavailableErrors(createRedisStore({ client })),
    status: () => (client.status === "ready" ? "ok" : `degraded: ${client.status}`),
    description: `redis ${redactRedisUrl(settings.redisUrl)}`,
  };
}
