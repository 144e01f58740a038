import { status } from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminClientTls } from "../../src/transport/grpc/admin-client.js";
import { createAdminClient } from "../../src/transport/grpc/admin-client.js";
import { healthCheck, listServices, opsClient, SERVING } from "../harness/grpc-ops-client.js";
import type { ListenerTlsFiles } from "../harness/listener-tls.js";
import { generateListenerTlsFiles, grpcTls } from "../harness/listener-tls.js";
import type { AdminFixture } from "./support/admin.js";
import { adminFixture } from "./support/admin.js";
import type { CheckLimitResult, TestServer } from "./support/floodgate.js";
import { call, rateLimiterClient, startTestServer } from "./support/floodgate.js";

/**
 * With ADMIN_GRPC_PORT (docs/security.md, threat 4) the Admin service has a listener of its own
 * (TLS like the others), and the hot path's listener no longer serves it, so a NetworkPolicy can
 * admit only operators to it.
 */
describe("the Admin service on ADMIN_GRPC_PORT", () => {
  let files: ListenerTlsFiles;
  let fixture: AdminFixture;
  let server: TestServer;
  let tls: AdminClientTls;
  const grpcAddress = () => `127.0.0.1:${server.app.grpcPort}`;
  const adminAddress = () => `127.0.0.1:${server.app.adminGrpcPort}`;

  beforeAll(async () => {
    [files, fixture] = await Promise.all([generateListenerTlsFiles(), adminFixture()]);
    tls = { ca: readFileSync(files.caCert) };
    server = await startTestServer({
      rules: { "api.yaml": "domain: api\n" },
      memory: true,
      env: {
        ...fixture.env,
        ADMIN_GRPC_PORT: "0",
        TLS_CERT_FILE: files.serverCert,
        TLS_KEY_FILE: files.serverKey,
      },
      credentials: grpcTls(files.caCert),
    });
  });
  afterAll(async () => {
    await server?.stop();
    await fixture?.cleanup();
    await files?.remove();
  });

  /** An Admin call: the response, or the gRPC error's code and details. */
  async function adminCall(address: string, options: { tls?: AdminClientTls } = { tls }) {
    const client = createAdminClient({ address, token: await fixture.token(), ...options });
    try {
      return await client.call("ListOverrides", {});
    } catch (error) {
      const { code, details } = error as { code: number; details: string };
      return { code, details };
    } finally {
      client.close();
    }
  }

  it("serves Admin on its own port, over TLS only", async () => {
    expect(server.app.adminGrpcPort).toBeGreaterThan(0);
    expect(server.app.adminGrpcPort).not.toBe(server.app.grpcPort);
    expect(await adminCall(adminAddress())).toEqual({ overrides: [], next_page_token: "" });
    expect(await adminCall(adminAddress(), {})).toMatchObject({ code: status.UNAVAILABLE });
  });

  it("refuses Admin on GRPC_PORT and says where it went; the hot path stays there", async () => {
    expect(await adminCall(grpcAddress())).toEqual({
      code: status.UNIMPLEMENTED,
      details: "the admin API is served on its own listener (ADMIN_GRPC_PORT), not on this one",
    });
    const answer = await call<CheckLimitResult>(server.rateLimiter, "CheckLimit", { user_id: "alice" });
    expect(answer.allowed).toBe(true);
    const onAdmin = rateLimiterClient(adminAddress(), grpcTls(files.caCert));
    const refused = await call(onAdmin, "CheckLimit", { user_id: "alice" }).catch((e: { code: number }) => e);
    onAdmin.close();
    expect(refused).toMatchObject({ code: status.UNIMPLEMENTED });
  });

  it("has health and reflection of its own, each listener describing only what it serves", async () => {
    const admin = opsClient(adminAddress(), grpcTls(files.caCert));
    const main = opsClient(grpcAddress(), grpcTls(files.caCert));
    try {
      expect(await healthCheck(admin, "")).toEqual({ code: 0, body: SERVING });
      expect(await healthCheck(admin, "floodgate.v1.Admin")).toEqual({ code: 0, body: SERVING });
      expect((await healthCheck(admin, "floodgate.v1.RateLimiter")).code).toBe(status.NOT_FOUND);
      const adminServices = await listServices(admin);
      expect(adminServices).toContain("floodgate.v1.Admin");
      expect(adminServices).not.toContain("floodgate.v1.RateLimiter");
      const mainServices = await listServices(main);
      expect(mainServices).toContain("floodgate.v1.RateLimiter");
      expect(mainServices).not.toContain("floodgate.v1.Admin");
    } finally {
      admin.close();
      main.close();
    }
  });

  it("names the Admin listener in the startup line", () => {
    const started = server.logs.find((l) => l["msg"] === "floodgate started");
    expect(started).toMatchObject({
      grpc: grpcAddress(),
      adminGrpc: adminAddress(),
      tls: "tls",
    });
  });
});
