import { status } from "@grpc/grpc-js";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminFixture } from "./support/admin.js";
import { adminFixture } from "./support/admin.js";
import type { TestServer } from "./support/floodgate.js";
import { startTestServer } from "./support/floodgate.js";

/**
 * ADMIN_JWKS_URL end to end: an identity provider that is down at first, then up. The failed
 * fetch is logged and counted (the alert FloodgateAdminKeySourceFailing watches the counter),
 * and once the provider answers, after the backoff, tokens verify.
 */
describe("admin keys from ADMIN_JWKS_URL", () => {
  let fixture: AdminFixture;
  let server: TestServer;
  let provider: Server;
  let healthy = false;

  beforeAll(async () => {
    fixture = await adminFixture();
    const jwks = await readFile(fixture.env["ADMIN_JWKS_FILE"]!, "utf8");
    provider = createServer((_req, res) => {
      res.writeHead(healthy ? 200 : 503, { "content-type": "application/json" });
      res.end(healthy ? jwks : "{}");
    });
    await new Promise<void>((resolve) => provider.listen(0, "127.0.0.1", resolve));
    const { port } = provider.address() as { port: number };
    const { ADMIN_JWKS_FILE: _file, ...env } = fixture.env;
    server = await startTestServer({
      rules: { "api.yaml": "domain: api\n" },
      memory: true,
      env: { ...env, ADMIN_JWKS_URL: `http://127.0.0.1:${port}/jwks` },
    });
  });
  afterAll(async () => {
    await server.stop();
    await new Promise((resolve) => provider.close(resolve));
    await fixture.cleanup();
  });

  const getBucket = () =>
    fixture
      .client(`127.0.0.1:${server.app.grpcPort}`)
      .call("GetBucket", { target: { user_id: "alice" } })
      .then(
        () => "ok",
        (err: { code: number }) => err.code,
      );
  const failures = async () => {
    const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
    return Number(/^floodgate_admin_jwks_fetch_failures_total (\d+)$/m.exec(text)?.[1]);
  };

  it("counts and logs a failed fetch, then verifies tokens once the provider answers", async () => {
    expect(await failures()).toBe(0);
    expect(await getBucket()).toBe(status.UNAUTHENTICATED);
    expect(await failures()).toBe(1);
    expect(server.logs.some((l) => l["msg"] === "ADMIN_JWKS_URL fetch failed; backing off")).toBe(true);
    healthy = true;
    // The first wait after a failure is 1 s: until then no fetch is tried.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(await getBucket()).toBe("ok");
    expect(await failures()).toBe(1);
  });
});
