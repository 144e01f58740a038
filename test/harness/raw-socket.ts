/**
 * A raw TCP (or TLS) client for the listeners' own limits: it writes exactly what a test tells
 * it to, when it tells it to, and reports when and how the server ended the connection.
 */
import { connect as connectTcp } from "node:net";
import type { Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import type { ConnectionOptions } from "node:tls";

export interface RawConnection {
  readonly socket: Socket;
  /** Resolves once connected (for TLS: once the handshake is done). */
  readonly connected: Promise<void>;
  /** Resolves when the connection closes, with the ms since it was opened. */
  readonly closed: Promise<number>;
  /** Everything the server sent, as text. */
  received(): string;
  /** Writes `text` one character every `everyMs` until it is all sent or the socket closes. */
  trickle(text: string, everyMs: number): void;
  destroy(): void;
}

export function openRaw(port: number, tls?: ConnectionOptions): RawConnection {
  const opened = performance.now();
  const socket =
    tls === undefined
      ? connectTcp({ host: "127.0.0.1", port })
      : connectTls({ host: "127.0.0.1", port, ...tls });
  let text = "";
  let trickleTimer: NodeJS.Timeout | undefined;
  socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
  socket.on("error", () => undefined);
  const connected = new Promise<void>((resolve, reject) => {
    socket.once(tls === undefined ? "connect" : "secureConnect", () => resolve());
    socket.once("close", () => reject(new Error("closed before it connected")));
  });
  connected.catch(() => undefined);
  const closed = new Promise<number>((resolve) =>
    socket.once("close", () => {
      clearInterval(trickleTimer);
      resolve(performance.now() - opened);
    }),
  );
  return {
    socket,
    connected,
    closed,
    received: () => text,
    trickle(rest, everyMs) {
      let index = 0;
      trickleTimer = setInterval(() => {
        if (index >= rest.length || socket.destroyed) return clearInterval(trickleTimer);
        socket.write(rest[index++]!);
      }, everyMs);
    },
    destroy: () => {
      clearInterval(trickleTimer);
      socket.destroy();
    },
  };
}

/** The ms after which the connection closed, or undefined if it was still open after `withinMs`. */
export async function closedWithin(connection: RawConnection, withinMs: number): Promise<number | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), withinMs);
  });
  try {
    return await Promise.race([connection.closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
