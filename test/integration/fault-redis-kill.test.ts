/**
 * Redis crashes (SIGKILL) while a client streams requests, then restarts on the same port.
 * A crash closes the connection, which the client reports at once: the replica enters fallback
 * then, so at most the calls already in flight fail. The point here is that no RPC fails, the
 * alert fires once, and Floodgate finds the restarted (empty) Redis by itself.
 */
import type { RedisServer } from "../harness/redis-server.js";
import { startRedisServer } from "../harness/redis-server.js";
import { describeOutage } from "./support/outage-scenario.js";

describeOutage("Redis killed (SIGKILL) during traffic", async () => {
  let redis: RedisServer = await startRedisServer();
  const port = redis.port;
  return {
    url: redis.url,
    fault: () => redis.kill("SIGKILL"),
    closesConnection: true,
    heal: async () => {
      redis = await startRedisServer({ port });
    },
    close: () => redis.stop(),
  };
});
