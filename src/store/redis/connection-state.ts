/**
 * What the Redis client's connection says about Redis, for the fallback store (README, "When
 * Redis fails"): a connection closed (or never opened) means Redis is unavailable now, not after
 * a few failed requests; "ready" means it is back. ioredis reports each state change as an event
 * named after the state ('ready', 'close', 'end', …) and each failure as 'error' first, which gives
 * the reason.
 */
import type { Cluster, Redis } from "ioredis";
import { withDeadline } from "./deadline.js";
import { classifyRedisError } from "./errors.js";

export interface ConnectionListener {
  /** The connection closed or could not open; `reason` is the last client error, if any. */
  lost(reason: string): void;
  ready(): void;
}

type Client = Redis | Cluster;

const CLOSED = "connection closed";

/** Forwards the client's connection changes to `listener` from now on. */
export function followConnection(client: Client, listener: ConnectionListener): void {
  let lastError: string | undefined;
  client.on("error", (err: Error) => {
    lastError = err.message;
  });
  const lost = (): void => listener.lost(lastError ?? CLOSED);
  client.on("close", lost);
  client.on("end", lost);
  client.on("ready", () => {
    lastError = undefined;
    listener.ready();
  });
}

/**
 * Resolves once the client is ready, or rejects when an attempt fails (a refused connection is an
 * answer: there is nothing to wait for) or after `timeoutMs`. A close with no error before it is
 * not a failed attempt: a Redis Cluster client closes its first connection while it loads the
 * slot map, then becomes ready.
 */
export async function firstConnection(client: Client, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    let lastError: string | undefined;
    const onError = (err: Error): void => {
      lastError = err.message;
    };
    const settle = (error?: Error): void => {
      clearTimeout(timer);
      client.off("ready", onReady);
      client.off("close", onClose);
      client.off("end", onClose);
      client.off("error", onError);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onReady = (): void => settle();
    const onClose = (): void => {
      if (lastError !== undefined) settle(new Error(lastError));
    };
    const timer = setTimeout(() => settle(new Error(`Redis not ready after ${timeoutMs} ms`)), timeoutMs);
    client.on("error", onError);
    client.once("ready", onReady);
    client.on("close", onClose);
    client.on("end", onClose);
  });
}

/** One PING under the decision deadline (REDIS_TIMEOUT_MS); fails with a classified StoreError. */
export function pingWithin(client: { ping(): Promise<string> }, deadlineMs: number): Promise<unknown> {
  return withDeadline(client.ping(), { ms: deadlineMs, mapError: classifyRedisError });
}
