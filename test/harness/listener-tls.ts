/**
 * Certificates and clients for Floodgate's own TLS listeners. On top of redis-tls.ts's set (a CA,
 * a server and a client certificate, another CA): a second server certificate from the same CA
 * for rotations (CN "server-rotated", where the first is "server"), and a client certificate
 * from the other CA. All made with the openssl CLI, as for the TLS Redis tests.
 */
import type { ChannelCredentials } from "@grpc/grpc-js";
import { credentials } from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { Agent, request } from "node:https";
import { connect } from "node:tls";
import type { ConnectionOptions } from "node:tls";
import type { TlsFiles } from "./redis-tls.js";
import { CLIENT_EXT, generateTlsFiles, leaf, SERVER_EXT } from "./redis-tls.js";

export interface ListenerTlsFiles extends TlsFiles {
  readonly rotatedCert: string;
  readonly rotatedKey: string;
  /** Signed by the other CA: a server that trusts only the first must refuse it. */
  readonly otherClientCert: string;
  readonly otherClientKey: string;
}

export async function generateListenerTlsFiles(): Promise<ListenerTlsFiles> {
  const files = await generateTlsFiles();
  try {
    const [rotated, otherClient] = await Promise.all([
      leaf(files.dir, { name: "server-rotated", ext: SERVER_EXT }),
      leaf(files.dir, { name: "other-client", ext: CLIENT_EXT, ca: "other-ca" }),
    ]);
    return {
      ...files,
      rotatedCert: rotated.cert,
      rotatedKey: rotated.key,
      otherClientCert: otherClient.cert,
      otherClientKey: otherClient.key,
    };
  } catch (error) {
    await files.remove();
    throw error;
  }
}

/** What a client presents: nothing, or a certificate and its key. */
export interface ClientIdentity {
  readonly cert: string;
  readonly key: string;
}

/** gRPC credentials that trust `caFile`, with a client certificate when given. */
export function grpcTls(caFile: string, identity?: ClientIdentity): ChannelCredentials {
  return identity === undefined
    ? credentials.createSsl(readFileSync(caFile))
    : credentials.createSsl(readFileSync(caFile), readFileSync(identity.key), readFileSync(identity.cert));
}

export function tlsOptions(caFile: string, identity?: ClientIdentity): ConnectionOptions {
  return {
    ca: readFileSync(caFile),
    // The certificates name localhost too; an IP address as the SNI name is deprecated.
    servername: "localhost",
    ...(identity === undefined ? {} : { cert: readFileSync(identity.cert), key: readFileSync(identity.key) }),
  };
}

/** The CN of the certificate a new TLS connection to `port` is served. */
export function servedCommonName(port: number, options: ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ALPNProtocols: ["h2", "http/1.1"], ...options });
    socket.once("secureConnect", () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.destroy();
      resolve(Array.isArray(cn) ? cn.join(",") : (cn ?? ""));
    });
    socket.once("error", reject);
  });
}

export interface HttpsResponse {
  readonly status: number;
  readonly body: string;
  /** The connection was kept from an earlier request. */
  readonly reused: boolean;
  /** The CN of the server certificate on the connection that answered. */
  readonly servedBy: string;
}

/** One HTTPS request; pass an `agent` with keepAlive to reuse its connection. */
export function httpsGet(
  url: string,
  options: ConnectionOptions & { agent?: Agent },
): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { ...options, agent: options.agent ?? new Agent(options) },
      (res: IncomingMessage) => {
        const socket = res.socket as unknown as { getPeerCertificate(): { subject?: { CN?: string } } };
        const servedBy = socket.getPeerCertificate().subject?.CN ?? "";
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body, reused: req.reusedSocket, servedBy }),
        );
      },
    );
    req.once("error", reject);
    req.end();
  });
}
