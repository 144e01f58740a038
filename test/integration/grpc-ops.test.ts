import type { ServiceClientConstructor } from "@grpc/grpc-js";
import { credentials, makeGenericClientConstructor, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawMethod } from "../harness/raw-grpc.js";
import type { TestServer } from "./support/floodgate.js";
import { startTestServer } from "./support/floodgate.js";

/** grpc.health.v1 and reflection spoken in raw bytes: no proto files on the client side. */
function rawClient(address: string) {
  const Ctor: ServiceClientConstructor = makeGenericClientConstructor(
    {
      check: rawMethod("/grpc.health.v1.Health/Check"),
      watch: rawMethod("/grpc.health.v1.Health/Watch", { responseStream: true }),
      reflect: rawMethod("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", {
        requestStream: true,
        responseStream: true,
      }),
    },
    "Raw",
  );
  return new Ctor(address, credentials.createInsecure()) as unknown as {
    check(req: Buffer, cb: (err: { code: number } | null, res: Buffer) => void): void;
    watch(req: Buffer): NodeJS.EventEmitter & { cancel(): void };
    reflect(): NodeJS.EventEmitter & { write(b: Buffer): void; end(): void };
    close(): void;
  };
}

/** HealthCheckRequest{service}: field 1, string. */
const healthRequest = (service: string) =>
  service === ""
    ? Buffer.alloc(0)
    : Buffer.concat([Buffer.from([0x0a, service.length]), Buffer.from(service)]);
const SERVING = "0801";
const NOT_SERVING = "0802";

describe("gRPC health and reflection", () => {
  let server: TestServer;
  let client: ReturnType<typeof rawClient>;
  beforeAll(async () => {
    server = await startTestServer({ rules: { "a.yaml": "domain: a\n" }, memory: true });
    client = rawClient(`127.0.0.1:${server.app.grpcPort}`);
  });
  afterAll(async () => {
    client.close();
    await server.stop().catch(() => undefined);
  });

  const check = (service: string) =>
    new Promise<{ code: number; body: string }>((resolve) =>
      client.check(healthRequest(service), (err, res) =>
        resolve({ code: err?.code ?? 0, body: res?.toString("hex") ?? "" }),
      ),
    );

  it("answers SERVING for the server and for each service, NOT_FOUND for others", async () => {
    expect(await check("")).toEqual({ code: 0, body: SERVING });
    expect(await check("envoy.service.ratelimit.v3.RateLimitService")).toEqual({ code: 0, body: SERVING });
    expect(await check("floodgate.v1.RateLimiter")).toEqual({ code: 0, body: SERVING });
    expect((await check("no.such.Service")).code).toBe(status.NOT_FOUND);
  });

  it("lists the services through server reflection", async () => {
    const stream = client.reflect();
    const reply = new Promise<Buffer>((resolve, reject) => {
      stream.on("data", resolve);
      stream.on("error", reject);
    });
    stream.write(Buffer.from("3a012a", "hex")); // list_services: "*"
    const text = (await reply).toString("latin1");
    stream.end();
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
