import { connect } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FloodgateProcess } from "../harness/floodgate-process.js";
import { startFloodgateProcess } from "../harness/floodgate-process.js";
import type { RedisServer } from "../harness/redis-server.js";
import { startRedisServer } from "../harness/redis-server.js";
import type { ProtoResponse } from "./support/floodgate.js";
import { call, OK, rlsRequest } from "./support/floodgate.js";

/**
 * Graceful shutdown of the real process. To have calls reliably in flight when SIGTERM arrives,
 * Redis is frozen (SIGSTOP): each call then waits for REDIS_TIMEOUT_MS before the local store
 * answers it. SIGTERM lands while they wait; every one must still succeed, and the exit code is 0.
 */
describe("graceful shutdown", () => {
  let redis: RedisServer;
  let dir: string;
  let proc: FloodgateProcess;

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await mkdtemp(join(tmpdir(), "fg-shutdown-"));
    await writeFile(
      join(dir, "r.yaml"),
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit: { unit: second, requests_per_unit: 1000 }\n",
    );
    proc = await startFloodgateProcess({
      rulesPath: dir,
      redisUrl: redis.url,
      env: { REDIS_TIMEOUT_MS: "800", BREAKER_FAILURES: "1000", SHUTDOWN_GRACE_MS: "5000" },
    });
  });
  afterAll(async () => {
    redis.kill("SIGCONT");
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("finishes in-flight calls, stops listening, and exits 0", async () => {
    // Warm the connection, then freeze Redis so that the next calls hang for the Redis timeout.
    await call(proc.rls, "ShouldRateLimit", rlsRequest("d", [[["k", "warm"]]]));
    redis.kill("SIGSTOP");
    const started = Date.now();
    const inFlight = Array.from({ length: 8 }, (_, i) =>
      call<ProtoResponse>(proc.rls, "ShouldRateLimit", rlsRequest("d", [[["k", `v${i}`]]])),
    );
    await new Promise((r) => setTimeout(r, 200));
    const ready = await fetch(`${proc.httpUrl}/readyz`).then((r) => r.status);
    const stopping = proc.stop(8000);
    const results = await Promise.allSettled(inFlight);
    expect(results.map((r) => r.status)).toEqual(Array(8).fill("fulfilled"));
    for (const r of results) if (r.status === "fulfilled") expect(r.value.overall_code).toBe(OK);
    // They really were in flight: answered only after the Redis timeout, after SIGTERM.
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    expect(ready).toBe(200);
    await stopping; // throws unless the exit code is 0
    // Nothing listens any more.
    const [host, port] = proc.grpcAddress.split(":");
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), host, () => resolve("connected"));
      socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
    });
    expect(refused).toBe("ECONNREFUSED");
    const lines = proc.logs.map((l) => l["msg"]);
    expect(lines).toContain("shutting down");
    expect(lines.at(-1)).toBe("floodgate stopped");
  });
});
