import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OpsClient } from "../harness/grpc-ops-client.js";
import {
  healthCheck,
  healthRequest,
  listServices,
  NOT_SERVING,
  opsClient,
  SERVING,
} from "../harness/grpc-ops-client.js";
import type { TestServer } from "./support/floodgate.js";
import { startTestServer } from "./support/floodgate.js";

describe("gRPC health and reflection", () => {
  let server: TestServer;
  let client: OpsClient;
  beforeAll(async () => {
    server = await startTestServer({ rules: { "a.yaml": "domain: a\n" }, memory: true });
    client = opsClient(`127.0.0.1:${server.app.grpcPort}`);
  });
  afterAll(async () => {
    client.close();
    await server.stop().catch(() => undefined);
  });

  const check = (service: string) => healthCheck(client, service);

  it("answers SERVING for the server and for each service, NOT_FOUND for others", async () => {
    expect(await check("")).toEqual({ code: 0, body: SERVING });
    expect(await check("envoy.service.ratelimit.v3.RateLimitService")).toEqual({ code: 0, body: SERVING });
    expect(await check("floodgate.v1.RateLimiter")).toEqual({ code: 0, body: SERVING });
    expect((await check("no.such.Service")).code).toBe(status.NOT_FOUND);
  });

  it("lists the services through server reflection", async () => {
    const text = await listServices(client);
    for (const name of [
      "envoy.service.ratelimit.v3.RateLimitService",
      "floodgate.v1.RateLimiter",
      "floodgate.v1.Admin",
    ]) {
      expect(text).toContain(name);
    }
  });

  it("pushes NOT_SERVING to watchers when the server drains", async () => {
    const watch = client.watch(healthRequest(""));
    const seen: string[] = [];
    const notServing = new Promise<void>((resolve) =>
      watch.on("data", (b: Buffer) => {
        seen.push(b.toString("hex"));
        if (b.toString("hex") === NOT_SERVING) resolve();
      }),
    );
    watch.on("error", () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const closing = server.app.close();
    await notServing;
    watch.cancel();
    await closing;
    expect(seen).toEqual([SERVING, NOT_SERVING]);
  });
});
