/**
 * TLS Redis for tests: certificates generated with openssl into a temp dir (a CA, a server
 * certificate for 127.0.0.1 and localhost, a client certificate, and an unrelated "other" CA for
 * the wrong-CA case), and a redis-server that listens on TLS only (`--port 0 --tls-port N`),
 * optionally requiring client certificates and with extra ACL users. EC P-256 keys keep the
 * generation fast. Only the servers started here are ever stopped.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { promisify } from "node:util";
import { freePort, sleep, tailOutput, terminate, track } from "./processes.js";
import { redisServerBin } from "./redis-server.js";

const run = promisify(execFile);

export interface TlsFiles {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A CA that signed nothing here: trusting it alone must fail the handshake. */
  readonly otherCaCert: string;
  remove(): Promise<void>;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function openssl(args: readonly string[]): Promise<void> {
  await run("openssl", [...args], { timeout: 30_000 });
}

async function selfSignedCa(dir: string, name: string): Promise<string> {
  const cert = join(dir, `${name}.crt`);
  await openssl([
    "req",
    "-x509",
    ...EC,
    "-keyout",
    join(dir, `${name}.key`),
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    `/CN=floodgate test ${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return cert;
}

/** X.509 extensions of a server certificate for 127.0.0.1 and localhost, and of a client one. */
export const SERVER_EXT =
  "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n";
export const CLIENT_EXT = "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n";

/** A key and a certificate named `name` (also its CN), signed by the CA `ca` ("ca" unless said). */
export async function leaf(
  dir: string,
  spec: { name: string; ext: string; ca?: string },
): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${spec.name}.key`);
  const csr = join(dir, `${spec.name}.csr`);
  const cert = join(dir, `${spec.name}.crt`);
  const ext = join(dir, `${spec.name}.ext`);
  await writeFile(ext, spec.ext);
  await openssl(["req", "-new", ...EC, "-keyout", key, "-out", csr, "-subj", `/CN=${spec.name}`]);
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    join(dir, `${spec.ca ?? "ca"}.crt`),
    "-CAkey",
    join(dir, `${spec.ca ?? "ca"}.key`),
    // Explicit serials: two leaves are signed in parallel, and -CAcreateserial shares one file.
    "-set_serial",
    `0x${randomBytes(8).toString("hex")}`,
    "-out",
    cert,
    "-days",
    "2",
    "-extfile",
    ext,
  ]);
  return { cert, key };
}

/** A CA, a server and a client certificate signed by it, and another CA, in a new temp dir. */
export async function generateTlsFiles(): Promise<TlsFiles> {
  const dir = await mkdtemp(join(tmpdir(), "fg-tls-"));
  try {
    const [caCert, otherCaCert] = await Promise.all([selfSignedCa(dir, "ca"), selfSignedCa(dir, "other-ca")]);
    const [server, client] = await Promise.all([
      leaf(dir, { name: "server", ext: SERVER_EXT }),
      leaf(dir, { name: "client", ext: CLIENT_EXT }),
    ]);
    return {
      dir,
      caCert,
      otherCaCert,
      serverCert: server.cert,
      serverKey: server.key,
      clientCert: client.cert,
      clientKey: client.key,
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

export interface StartTlsRedisOptions {
  readonly files: TlsFiles;
  /** "yes": clients must present a certificate signed by the CA. */
  readonly authClients: "optional" | "yes";
  /** ACL users as redis.conf `user` rules, e.g. ["fg-user", "on", ">secret", "~*", "+@all"]. */
  readonly users?: readonly (readonly string[])[];
}

export interface TlsRedisServer {
  readonly port: number;
  /** rediss://127.0.0.1:<port> (no credentials). */
  readonly url: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** PING over TLS, trusting the test CA and presenting the client certificate. */
export function tlsPing(port: number, files: TlsFiles, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      ca: readFileSync(files.caCert),
      cert: readFileSync(files.clientCert),
      key: readFileSync(files.clientKey),
    });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.once("secureConnect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => done(data.toString("utf8").startsWith("+PONG")));
  });
}

function serverArgs(options: StartTlsRedisOptions, port: number, dir: string): string[] {
  const { files } = options;
  const args = ["--save", "", "--appendonly", "no", "--port", "0", "--tls-port", String(port)];
  args.push("--bind", "127.0.0.1", "--dir", dir, "--loglevel", "warning");
  args.push("--tls-cert-file", files.serverCert, "--tls-key-file", files.serverKey);
  args.push("--tls-ca-cert-file", files.caCert, "--tls-auth-clients", options.authClients);
  for (const user of options.users ?? []) args.push("--user", ...user);
  return args;
}

async function startOnce(options: StartTlsRedisOptions): Promise<TlsRedisServer | string> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "fg-redis-tls-"));
  const child = spawn(redisServerBin(), serverArgs(options, port, dir), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);
  const output = tailOutput(child);
  const stop = async (): Promise<void> => {
    await terminate(child);
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && child.exitCode === null) {
    if (await tlsPing(port, options.files))
      return { port, url: `rediss://127.0.0.1:${port}`, process: child, stop };
    await sleep(30);
  }
  await stop();
  return `TLS redis-server on port ${port} did not answer: ${output() || "no output"}`;
}

/** Starts a TLS-only redis-server; a port taken meanwhile is retried on another. */
export async function startTlsRedis(options: StartTlsRedisOptions): Promise<TlsRedisServer> {
  let failure = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const result = await startOnce(options);
    if (typeof result !== "string") return result;
    failure = result;
  }
  throw new Error(failure);
}
