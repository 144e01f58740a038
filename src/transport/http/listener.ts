import type { RequestListener, Server } from "node:http";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { SecureContextOptions } from "node:tls";
import type { HttpLimits } from "../../config/settings.js";
import type { TlsMaterial } from "../../config/tls-material.js";
import type { TlsSource } from "../../config/tls-watcher.js";

/** How the HTTP listener treats its clients: the limits, and TLS when a source is given. */
export interface HttpListenerOptions {
  readonly limits: HttpLimits;
  readonly tls?: TlsSource;
  /** Called for each connection refused because `limits.maxConnections` were open. */
  readonly onRefused?: () => void;
}

/**
 * Node enforces the request and header timeouts only when it sweeps its connections, every
 * connectionsCheckingInterval (30 s by default): a slow client would hold on for up to 30 s
 * past its timeout. One sweep a second honours them within about a second; a sweep walks the
 * open connections only, at most HTTP_MAX_CONNECTIONS of them.
 */
const SWEEP_INTERVAL_MS = 1000;

function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  return material.clientCa === undefined
    ? { cert: material.cert, key: material.key }
    : { cert: material.cert, key: material.key, ca: material.clientCa };
}

function createTlsServer(handler: RequestListener, limits: HttpLimits, source: TlsSource) {
  const mutual = source.current().clientCa !== undefined;
  const server = createHttpsServer(
    {
      ...secureContextOptions(source.current()),
      requestCert: mutual,
      rejectUnauthorized: mutual,
      // A client that opens a connection and never completes the handshake is a silent client
      // too; Node's default would keep it for 120 s.
      handshakeTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: SWEEP_INTERVAL_MS,
    },
    handler,
  );
  // New connections get the new context; open ones keep the one they were made with.
  const unsubscribe = source.subscribe((material) => server.setSecureContext(secureContextOptions(material)));
  server.once("close", unsubscribe);
  return server;
}

/**
 * The server Fastify runs on (its serverFactory): Fastify itself only offers requestTimeout,
 * keepAliveTimeout and connectionTimeout, not the header timeout, the sweep interval, the TLS
 * handshake timeout or the connection cap. The cast: Fastify's handler and server types are the
 * http ones; an https.Server takes the same handler and offers the same listening methods.
 */
export function listenerFactory(options: HttpListenerOptions): (handler: RequestListener) => Server {
  const { limits, tls, onRefused } = options;
  return (handler) => {
    const server =
      tls === undefined
        ? createHttpServer({ connectionsCheckingInterval: SWEEP_INTERVAL_MS }, handler)
        : (createTlsServer(handler, limits, tls) as unknown as Server);
    server.requestTimeout = limits.requestTimeoutMs;
    server.headersTimeout = limits.headersTimeoutMs;
    server.keepAliveTimeout = limits.idleTimeoutMs;
    // Beyond the cap Node closes each new connection as soon as it is accepted ("drop").
    server.maxConnections = limits.maxConnections;
    if (onRefused !== undefined) server.on("drop", onRefused);
    return server;
  };
}
