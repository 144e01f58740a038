import type { ChannelCredentials } from "@grpc/grpc-js";
import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClientIdentity, ListenerTlsFiles } from "../harness/listener-tls.js";
import { generateListenerTlsFiles, grpcTls, httpsGet, tlsOptions } from "../harness/listener-tls.js";
import { closedWithin, openRaw } from "../harness/raw-socket.js";
import type { CheckLimitResult, TestServer } from "./support/floodgate.js";
import { call, startTestServer } from "./support/floodgate.js";
import { checkLimitCode, healthzStatus } from "./support/tls-clients.js";
import { loadSettings } from "../../src/config/settings.js";
import { startFloodgate } from "../../src/app/floodgate.js";

/**
 * TLS_CERT_FILE and TLS_KEY_FILE put both listeners on TLS only; with TLS_CLIENT_CA_FILE, clients
 * need a certificate from that CA (docs/security.md, threat 4). Certificates: openssl, per run.
 */
const RULES = { "api.yaml": "domain: api\n" };

let files: ListenerTlsFiles;
beforeAll(async () => {
  files = await generateListenerTlsFiles();
});
afterAll(async () => files?.remove());

/** GET /healthz over HTTPS, trusting the test CA: the status, or "refused". */
function healthz(server: TestServer, identity?: ClientIdentity): Promise<number | "refused"> {
  return healthzStatus(server.httpUrl, tlsOptions(files.caCert, identity));
}

/** A server on TLS with the first server certificate, and these settings besides. */
function startTls(env: Record<string, string>, creds?: ChannelCredentials): Promise<TestServer> {
  return startTestServer({
    rules: RULES,
    memory: true,
    env: { TLS_CERT_FILE: files.serverCert, TLS_KEY_FILE: files.serverKey, ...env },
    ...(creds === undefined ? {} : { credentials: creds }),
  });
}

describe("TLS on both listeners", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTls(
      { HTTP_HEADERS_TIMEOUT_MS: "1000", HTTP_REQUEST_TIMEOUT_MS: "2000" },
      grpcTls(files.caCert),
    );
  });
  afterAll(async () => server?.stop());

  it("serves gRPC over TLS, and refuses a plain-text client", async () => {
    const answer = await call<CheckLimitResult>(server.rateLimiter, "CheckLimit", { user_id: "alice" });
    expect(answer.allowed).toBe(true);
    expect(await checkLimitCode(server.app.grpcPort, credentials.createInsecure())).toBe(status.UNAVAILABLE);
  });

  it("serves HTTPS, and refuses plain HTTP", async () => {
    const res = await httpsGet(`${server.httpUrl}/healthz`, tlsOptions(files.caCert));
    expect(res).toMatchObject({ status: 200, servedBy: "server" });
    await expect(fetch(`http://127.0.0.1:${server.app.httpPort}/healthz`)).rejects.toThrow();
  });

  it("cuts off a client that opens a connection and never starts the handshake", async () => {
    const client = openRaw(server.app.httpPort);
    await client.connected;
    const after = await closedWithin(client, 8000);
    client.destroy();
    expect(after, "the silent client was still connected after 8 s").toBeDefined();
  });
});

describe("mTLS on both listeners", () => {
  let server: TestServer;
  const client: ClientIdentity = { cert: "", key: "" };
  const stranger: ClientIdentity = { cert: "", key: "" };

  beforeAll(async () => {
    Object.assign(client, { cert: files.clientCert, key: files.clientKey });
    Object.assign(stranger, { cert: files.otherClientCert, key: files.otherClientKey });
    server = await startTls({ TLS_CLIENT_CA_FILE: files.caCert });
  });
  afterAll(async () => server?.stop());

  it("accepts a gRPC client whose certificate the CA signed, and no other", async () => {
    expect(await checkLimitCode(server.app.grpcPort, grpcTls(files.caCert, client))).toBe(status.OK);
    expect(await checkLimitCode(server.app.grpcPort, grpcTls(files.caCert))).toBe(status.UNAVAILABLE);
    expect(await checkLimitCode(server.app.grpcPort, grpcTls(files.caCert, stranger))).toBe(
      status.UNAVAILABLE,
    );
  });

  it("accepts an HTTPS client whose certificate the CA signed, and no other", async () => {
    expect(await healthz(server, client)).toBe(200);
    expect(await healthz(server)).toBe("refused");
    expect(await healthz(server, stranger)).toBe("refused");
  });
});

describe("startup with a bad TLS file", () => {
  /** What startFloodgate rejects with; the TLS files are read before anything else starts. */
  async function startupError(env: Record<string, string>): Promise<string> {
    const settings = loadSettings({
      HOST: "127.0.0.1",
      GRPC_PORT: "0",
      HTTP_PORT: "0",
      LOG_LEVEL: "silent",
      ...env,
    });
    try {
      const app = await startFloodgate(settings);
      await app.close();
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error("it started");
  }

  it("fails with a message that names the variable", async () => {
    const good = { TLS_CERT_FILE: files.serverCert, TLS_KEY_FILE: files.serverKey };
    expect(await startupError({ ...good, TLS_CERT_FILE: `${files.dir}/missing.crt` })).toMatch(
      /TLS_CERT_FILE: cannot read ".*missing\.crt" \(ENOENT\)/,
    );
    expect(await startupError({ ...good, TLS_KEY_FILE: files.rotatedKey })).toMatch(
      /TLS_KEY_FILE: does not match the certificate of TLS_CERT_FILE/,
    );
    expect(await startupError({ ...good, TLS_KEY_FILE: files.serverCert })).toMatch(
      /TLS_KEY_FILE: is not a readable, unencrypted PEM private key/,
    );
    expect(await startupError({ ...good, TLS_CLIENT_CA_FILE: files.clientKey })).toMatch(
      /TLS_CLIENT_CA_FILE: holds a PEM block that is cut short or is not a certificate/,
    );
  });
});
