import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../harness/floodgate-process.js";
import type { ListenerTlsFiles } from "../harness/listener-tls.js";
import { generateListenerTlsFiles } from "../harness/listener-tls.js";
import type { AdminFixture } from "./support/admin.js";
import { adminFixture } from "./support/admin.js";
import type { TestServer } from "./support/floodgate.js";
import { startTestServer } from "./support/floodgate.js";

/**
 * `floodgate admin` against a TLS and an mTLS server (docs/deploying.md, "The CLI over TLS"),
 * through the built CLI (npx tsc -p tsconfig.build.json, as make test does). The server is
 * addressed as localhost:PORT, the name its certificate carries.
 */
let files: ListenerTlsFiles;
let fixture: AdminFixture;
let token: string;

beforeAll(async () => {
  [files, fixture] = await Promise.all([generateListenerTlsFiles(), adminFixture()]);
  token = await fixture.token();
});
afterAll(async () => {
  await fixture?.cleanup();
  await files?.remove();
});

const LIST = ["admin", "override", "list"];

function startTls(env: Record<string, string>): Promise<TestServer> {
  return startTestServer({
    rules: { "api.yaml": "domain: api\n" },
    memory: true,
    env: { ...fixture.env, TLS_CERT_FILE: files.serverCert, TLS_KEY_FILE: files.serverKey, ...env },
  });
}

describe("floodgate admin against a TLS server", () => {
  let server: TestServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    server = await startTls({});
    env = { FLOODGATE_SERVER: `localhost:${server.app.grpcPort}`, FLOODGATE_TOKEN: token };
  });
  afterAll(async () => server?.stop());

  it("trusts the CA given by --ca or FLOODGATE_TLS_CA_FILE", async () => {
    const byFlag = await runCli([...LIST, "--ca", files.caCert], env);
    expect(byFlag.err).toBe("");
    expect(JSON.parse(byFlag.out)).toEqual({ overrides: [], next_page_token: "" });
    const byEnv = await runCli(LIST, { ...env, FLOODGATE_TLS_CA_FILE: files.caCert });
    expect(byEnv.err).toBe("");
    expect(byEnv.code).toBe(0);
  });

  it("checks the certificate against --server-name when the address does not carry the name", async () => {
    const address = ["--ca", files.caCert, "--server", `127.0.0.1:${server.app.grpcPort}`];
    const named = await runCli([...LIST, ...address, "--server-name", "localhost"], env);
    expect(named.err).toBe("");
    expect(named.code).toBe(0);
    const misnamed = await runCli([...LIST, ...address, "--server-name", "elsewhere.example"], env);
    expect(misnamed.code).toBe(1);
    expect(misnamed.err).toMatch(/gRPC code 14/);
  });

  it("fails plainly without TLS, and with a CA that did not sign the server's certificate", async () => {
    const plain = await runCli(LIST, env);
    expect(plain.code).toBe(1);
    expect(plain.err).toMatch(/gRPC code 14/);
    const wrongCa = await runCli([...LIST, "--ca", files.otherCaCert], env);
    expect(wrongCa.code).toBe(1);
    expect(wrongCa.err).toMatch(/gRPC code 14/);
    const systemRoots = await runCli(LIST, { ...env, FLOODGATE_TLS: "true" });
    expect(systemRoots.code).toBe(1);
  });
});

describe("floodgate admin against an mTLS server with its own Admin listener", () => {
  let server: TestServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    server = await startTls({ TLS_CLIENT_CA_FILE: files.caCert, ADMIN_GRPC_PORT: "0" });
    env = { FLOODGATE_SERVER: `localhost:${server.app.adminGrpcPort}`, FLOODGATE_TOKEN: token };
  });
  afterAll(async () => server?.stop());

  it("presents the client certificate given by flags or by the environment", async () => {
    const byFlags = await runCli(
      [...LIST, "--ca", files.caCert, "--cert", files.clientCert, "--key", files.clientKey],
      env,
    );
    expect(byFlags.err).toBe("");
    expect(byFlags.code).toBe(0);
    const byEnv = await runCli(LIST, {
      ...env,
      FLOODGATE_TLS_CA_FILE: files.caCert,
      FLOODGATE_TLS_CERT_FILE: files.clientCert,
      FLOODGATE_TLS_KEY_FILE: files.clientKey,
    });
    expect(byEnv.err).toBe("");
    expect(byEnv.code).toBe(0);
  });

  it("is refused without a client certificate, or with one from another CA", async () => {
    const none = await runCli([...LIST, "--ca", files.caCert], env);
    expect(none.code).toBe(1);
    const stranger = await runCli(
      [...LIST, "--ca", files.caCert, "--cert", files.otherClientCert, "--key", files.otherClientKey],
      env,
    );
    expect(stranger.code).toBe(1);
  });

  it("says what is wrong with the TLS flags", async () => {
    const half = await runCli([...LIST, "--ca", files.caCert, "--cert", files.clientCert], env);
    expect(half.code).toBe(2);
    expect(half.err).toMatch(/--cert and --key .* go together/);
    const missing = await runCli(LIST, { ...env, FLOODGATE_TLS_CA_FILE: `${files.dir}/missing.crt` });
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/FLOODGATE_TLS_CA_FILE: cannot read ".*missing\.crt" \(ENOENT\)/);
  });
});

describe("floodgate serve with a bad TLS file", () => {
  it("exits 2 with a message that names the variable", async () => {
    const res = await runCli(["serve"], {
      HOST: "127.0.0.1",
      GRPC_PORT: "0",
      HTTP_PORT: "0",
      TLS_CERT_FILE: files.serverCert,
      TLS_KEY_FILE: files.rotatedKey,
    });
    expect(res.code).toBe(2);
    expect(res.err).toMatch(/floodgate: invalid settings: TLS_KEY_FILE: does not match the certificate/);
  });
});
