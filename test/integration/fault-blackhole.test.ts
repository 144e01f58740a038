/**
 * The network to Redis goes silent (Floodgate → in-test TCP proxy → Redis, and the proxy stops
 * forwarding without closing anything), then comes back. Redis itself stays healthy; only the
 * deadline and the breaker can tell that something is wrong.
 */
import { expect } from "vitest";
import type { RedisServer } from "../harness/redis-server.js";
import { startRedisServer } from "../harness/redis-server.js";
import type { TcpProxy } from "../harness/tcp-proxy.js";
import { startTcpProxy } from "../harness/tcp-proxy.js";
import { describeOutage } from "./support/outage-scenario.js";

describeOutage("network blackhole between Floodgate and Redis during traffic", async () => {
  const redis: RedisServer = await startRedisServer();
  const proxy: TcpProxy = await startTcpProxy({ targetPort: redis.port });
  let acceptedAtFault = 0;
  return {
    url: `redis://127.0.0.1:${proxy.port}`,
    fault: () => {
      acceptedAtFault = proxy.accepted;
      proxy.blackhole();
    },
    heal: () => {
      // A silent network, not a closed one: the client never saw its connection drop, so it
      // never reconnected (had it, this would just be the SIGKILL case again).
      expect(proxy.accepted).toBe(acceptedAtFault);
      proxy.restore();
    },
    close: async () => {
      await proxy.close();
      await redis.stop();
    },
  };
});
