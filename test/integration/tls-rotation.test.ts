import { status } from "@grpc/grpc-js";
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OpsClient } from "../harness/grpc-ops-client.js";
import { healthRequest, opsClient, SERVING } from "../harness/grpc-ops-client.js";
import type { ClientIdentity, ListenerTlsFiles } from "../harness/listener-tls.js";
import {
  generateListenerTlsFiles,
  grpcTls,
  httpsGet,
  servedCommonName,
  tlsOptions,
} from "../harness/listener-tls.js";
import type { CheckLimitResult, TestServer } from "./support/floodgate.js";
import { call, startTestServer } from "./support/floodgate.js";
import { checkLimitCode, healthzStatus } from "./support/tls-clients.js";

/**
 * The TLS files are re-read when they change (docs/security.md, threat 4), without a restart and
 * without dropping connections; a bad rotation keeps the previous certificate. The certificates
 * tell themselves apart by CN: "server" first, "server-rotated" after a rotation.
 */
let files: ListenerTlsFiles;
beforeAll(async () => {
  files = await generateListenerTlsFiles();
});
afterAll(async () => files?.remove());

async function until(
  what: string,
  condition: () => Promise<boolean> | boolean,
  withinMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Connections opened before a rotation: a gRPC stream and an HTTPS keep-alive connection. */
interface HeldConnections {
  readonly grpc: OpsClient;
  /** Set if the server ended the stream (a dropped connection ends it with an error). */
  readonly ended: () => string | undefined;
  readonly agent: Agent;
}

async function holdConnections(server: TestServer): Promise<HeldConnections> {
  const grpc = opsClient(`127.0.0.1:${server.app.grpcPort}`, grpcTls(files.caCert));
  const watch = grpc.watch(healthRequest(""));
  let ended: string | undefined;
  const first = new Promise<string>((resolve) =>
    watch.once("data", (b: Buffer) => resolve(b.toString("hex"))),
  );
  watch.on("error", (err: Error) => (ended = `error: ${err.message}`));
  watch.on("end", () => (ended ??= "end"));
  expect(await first).toBe(SERVING);
  const agent = new Agent({ ...tlsOptions(files.caCert), keepAlive: true, maxSockets: 1 });
  const res = await httpsGet(`${server.httpUrl}/healthz`, { ...tlsOptions(files.caCert), agent });
  expect(res).toMatchObject({ status: 200, reused: false, servedBy: "server" });
  return { grpc, ended: () => ended, agent };
}

/** After a rotation: the held connections still work, on the old certificate. */
async function expectHeldConnectionsAlive(server: TestServer, held: HeldConnections): Promise<void> {
  expect(held.ended()).toBeUndefined();
  const res = await httpsGet(`${server.httpUrl}/healthz`, { ...tlsOptions(files.caCert), agent: held.agent });
  expect(res).toMatchObject({ status: 200, reused: true, servedBy: "server" });
  const answer = await call<CheckLimitResult>(server.rateLimiter, "CheckLimit", { user_id: "alice" });
  expect(answer.allowed).toBe(true);
}

/** The CN a new connection sees on each listener. */
async function served(server: TestServer): Promise<{ grpc: string; http: string }> {
  const options = tlsOptions(files.caCert);
  const [grpc, http] = await Promise.all([
    servedCommonName(server.app.grpcPort, options),
    servedCommonName(server.app.httpPort, options),
  ]);
  return { grpc, http };
}

async function release(parts: { held?: HeldConnections; server?: TestServer; dir?: string }): Promise<void> {
  parts.held?.grpc.close();
  parts.held?.agent.destroy();
  await parts.server?.stop();
  if (parts.dir !== undefined) await rm(parts.dir, { recursive: true, force: true });
}

const startTls = (certFile: string, keyFile: string) =>
  startTestServer({
    rules: { "api.yaml": "domain: api\n" },
    memory: true,
    // Longer than the test, so that the held HTTPS connection is not closed as idle.
    env: { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, HTTP_IDLE_TIMEOUT_MS: "60000" },
    credentials: grpcTls(files.caCert),
  });

describe("TLS files rewritten in place (cert-manager)", () => {
  let dir: string;
  let server: TestServer;
  let held: HeldConnections;
  const cert = () => join(dir, "tls.crt");
  const key = () => join(dir, "tls.key");

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "fg-tls-inplace-"));
    await copyFile(files.serverCert, cert());
    await copyFile(files.serverKey, key());
    server = await startTls(cert(), key());
    held = await holdConnections(server);
  });
  afterAll(async () => release({ held, server, dir }));

  const failures = () =>
    server.logs.filter((l) => l["msg"] === "TLS reload failed; the previous certificate stays in force");
  const reloadCount = async (result: string) =>
    (await server.app.metrics.tlsReloads.get()).values.find((v) => v.labels.result === result)?.value;

  it("serves the new certificate to new connections, and keeps the open ones", async () => {
    expect(await served(server)).toEqual({ grpc: "server", http: "server" });
    await writeFile(cert(), await readFile(files.rotatedCert));
    await writeFile(key(), await readFile(files.rotatedKey));
    await until("new connections see the rotated certificate", async () => {
      const now = await served(server);
      return now.grpc === "server-rotated" && now.http === "server-rotated";
    });
    await expectHeldConnectionsAlive(server, held);
    expect(server.logs.some((l) => l["msg"] === "TLS certificate reloaded")).toBe(true);
    expect(await reloadCount("success")).toBe(1);
  });

  it("keeps the certificate in force when a rotation is bad, and says so once per bad state", async () => {
    // A key that does not match the certificate.
    await writeFile(key(), await readFile(files.serverKey));
    await until("the mismatch is reported", () => failures().length === 1);
    expect(String(failures()[0]!["err"])).toMatch(/TLS_KEY_FILE: does not match the certificate/);
    // A certificate cut short, as a reader may catch it while it is written.
    const pem = await readFile(files.serverCert);
    await writeFile(cert(), pem.subarray(0, Math.floor(pem.length / 2)));
    await until("the cut-short certificate is reported", () => failures().length === 2);
    expect(String(failures()[1]!["err"])).toMatch(/TLS_CERT_FILE: .*cut short/);
    // A file that is gone.
    await rm(key());
    await until("the missing key is reported", () => failures().length === 3);
    expect(String(failures()[2]!["err"])).toMatch(/TLS_KEY_FILE: cannot read .*ENOENT/);
    expect(await reloadCount("error")).toBe(3);
    // Through all of it, new connections get the rotated certificate and are served.
    expect(await served(server)).toEqual({ grpc: "server-rotated", http: "server-rotated" });
    const answer = await call<CheckLimitResult>(server.rateLimiter, "CheckLimit", { user_id: "bob" });
    expect(answer.allowed).toBe(true);
    // A good pair again: taken, and nothing more reported.
    await writeFile(cert(), pem);
    await writeFile(key(), await readFile(files.serverKey));
    await until(
      "new connections see the first certificate again",
      async () => (await served(server)).http === "server",
    );
    expect(failures()).toHaveLength(3);
  });
});

/**
 * A mounted Secret: tls.crt -> ..data/tls.crt, and ..data -> ..<timestamp>, which the kubelet
 * replaces by renaming a new link over ..data (one atomic step for every file).
 */
class MountedSecret {
  constructor(
    readonly dir: string,
    /** The Secret's file names, each to the file it starts with. */
    private readonly initial: Record<string, string>,
  ) {}

  path(name: string): string {
    return join(this.dir, name);
  }

  async create(): Promise<void> {
    await this.#version("..2026_01_01_00_00_00.1", this.initial);
    await symlink("..2026_01_01_00_00_00.1", join(this.dir, "..data"));
    for (const name of Object.keys(this.initial)) await symlink(`..data/${name}`, this.path(name));
  }

  /** The kubelet's update: a new version, ..data swapped to it, the old version removed. */
  async swap(files: Record<string, string>): Promise<void> {
    await this.#version("..2026_02_01_00_00_00.2", { ...this.initial, ...files });
    await symlink("..2026_02_01_00_00_00.2", join(this.dir, "..data_tmp"));
    await rename(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    await rm(join(this.dir, "..2026_01_01_00_00_00.1"), { recursive: true });
  }

  async #version(name: string, files: Record<string, string>): Promise<void> {
    await mkdir(join(this.dir, name));
    for (const [file, source] of Object.entries(files)) await copyFile(source, join(this.dir, name, file));
  }
}

describe("TLS files swapped by a Kubernetes Secret's ..data symlink", () => {
  let secret: MountedSecret;
  let server: TestServer;
  let held: HeldConnections;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), "fg-tls-secret-"));
    secret = new MountedSecret(dir, { "tls.crt": files.serverCert, "tls.key": files.serverKey });
    await secret.create();
    server = await startTls(secret.path("tls.crt"), secret.path("tls.key"));
    held = await holdConnections(server);
  });
  afterAll(async () => release({ held, server, dir: secret?.dir }));

  it("serves the new certificate to new connections, and keeps the open ones", async () => {
    await secret.swap({ "tls.crt": files.rotatedCert, "tls.key": files.rotatedKey });
    await until("new connections see the rotated certificate", async () => {
      const now = await served(server);
      return now.grpc === "server-rotated" && now.http === "server-rotated";
    });
    await expectHeldConnectionsAlive(server, held);
    expect(
      server.logs.filter((l) => l["msg"] === "TLS reload failed; the previous certificate stays in force"),
    ).toEqual([]);
  });
});

/**
 * TLS_CLIENT_CA_FILE rotated from the CA that signed "client" to the one that signed
 * "other-client" (both listeners share one CA provider: tls-credentials.ts for gRPC,
 * setSecureContext in listener.ts for HTTP). Each client is asked on new connections.
 */
describe.each(["rewritten in place", "swapped by the ..data symlink"] as const)(
  "mTLS client CA %s",
  (how) => {
    let secret: MountedSecret;
    let server: TestServer;
    const before: ClientIdentity = { cert: "", key: "" };
    const after: ClientIdentity = { cert: "", key: "" };

    /** Whether a client gets in on a new connection: the gRPC status and the HTTP one. */
    const admitted = async (identity: ClientIdentity) => ({
      grpc: await checkLimitCode(server.app.grpcPort, grpcTls(files.caCert, identity)),
      http: await healthzStatus(server.httpUrl, tlsOptions(files.caCert, identity)),
    });
    const IN = { grpc: status.OK, http: 200 };
    const OUT = { grpc: status.UNAVAILABLE, http: "refused" };

    beforeAll(async () => {
      Object.assign(before, { cert: files.clientCert, key: files.clientKey });
      Object.assign(after, { cert: files.otherClientCert, key: files.otherClientKey });
      const dir = await mkdtemp(join(tmpdir(), "fg-tls-client-ca-"));
      const initial = { "tls.crt": files.serverCert, "tls.key": files.serverKey, "ca.crt": files.caCert };
      secret = new MountedSecret(dir, initial);
      if (how === "swapped by the ..data symlink") await secret.create();
      else for (const [name, source] of Object.entries(initial)) await copyFile(source, secret.path(name));
      server = await startTestServer({
        rules: { "api.yaml": "domain: api\n" },
        memory: true,
        env: {
          TLS_CERT_FILE: secret.path("tls.crt"),
          TLS_KEY_FILE: secret.path("tls.key"),
          TLS_CLIENT_CA_FILE: secret.path("ca.crt"),
        },
        credentials: grpcTls(files.caCert, before),
      });
    });
    afterAll(async () => release({ server, dir: secret?.dir }));

    it("lets in clients of the new CA only, and keeps the open connections", async () => {
      expect(await admitted(before)).toEqual(IN);
      expect(await admitted(after)).toEqual(OUT);
      // server.rateLimiter holds a connection made with the first CA's client certificate.
      const open = () => call<CheckLimitResult>(server.rateLimiter, "CheckLimit", { user_id: "held" });
      expect((await open()).allowed).toBe(true);

      if (how === "swapped by the ..data symlink") await secret.swap({ "ca.crt": files.otherCaCert });
      else await writeFile(secret.path("ca.crt"), await readFile(files.otherCaCert));
      await until("a client of the new CA gets in on both listeners", async () =>
        isDeepStrictEqual(await admitted(after), IN),
      );
      expect(await admitted(before)).toEqual(OUT);
      expect((await open()).allowed).toBe(true);
    });
  },
);
