/**
 * /metrics with WORKERS > 1. Each worker has its own registry, and the cluster hands each scrape
 * to whichever worker accepted the connection, so on its own a scrape would see one worker's
 * counters. Instead, the worker that answers asks the primary, which gathers every worker's
 * registry with prom-client's AggregatorRegistry (counters and histograms summed, gauges by the
 * aggregator each declares) and replies with the text. One scrape then describes the whole
 * process group, whichever worker serves it.
 */
import cluster from "node:cluster";
import type { Registry } from "prom-client";
import { AggregatorRegistry } from "prom-client";

const REQUEST = "floodgate:metrics-request";
const REPLY = "floodgate:metrics-reply";
/** prom-client's primary waits up to 5 s for the workers; this waits for the primary. */
const WORKER_TIMEOUT_MS = 6000;

interface MetricsRequest {
  readonly type: typeof REQUEST;
  readonly id: number;
}

interface MetricsReply {
  readonly type: typeof REPLY;
  readonly id: number;
  readonly text?: string;
  readonly error?: string;
}

function isMessage<T extends { type: string }>(message: unknown, type: T["type"]): message is T {
  return typeof message === "object" && message !== null && (message as { type?: unknown }).type === type;
}

/** In the primary: answer each worker's request with the registries of all workers. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on("message", (worker, message: unknown) => {
    if (!isMessage<MetricsRequest>(message, REQUEST)) return;
    const reply = (fields: Omit<MetricsReply, "type" | "id">): void => {
      if (worker.isConnected()) worker.send({ type: REPLY, id: message.id, ...fields });
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }),
    );
  });
}

interface Waiting {
  resolve(text: string): void;
  reject(error: Error): void;
  readonly timer: NodeJS.Timeout;
}

/**
 * In a worker: hands `registry` to the primary's aggregator, and returns the function that
 * /metrics calls for the text of every worker together.
 */
export function clusterExposition(registry: Registry, timeoutMs = WORKER_TIMEOUT_MS): () => Promise<string> {
  // The constructor installs prom-client's worker-side listener; setRegistries picks ours.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  const waiting = new Map<number, Waiting>();
  let nextId = 0;
  process.on("message", (message: unknown) => {
    if (!isMessage<MetricsReply>(message, REPLY)) return;
    const entry = waiting.get(message.id);
    if (entry === undefined) return; // timed out already
    waiting.delete(message.id);
    clearTimeout(entry.timer);
    if (message.text !== undefined) entry.resolve(message.text);
    else entry.reject(new Error(`metrics aggregation failed: ${message.error ?? "no text"}`));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const send = process.send?.bind(process);
      if (send === undefined) return reject(new Error("not a cluster worker"));
      const id = ++nextId;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`metrics aggregation: no answer from the primary within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(id, { resolve, reject, timer });
      send({ type: REQUEST, id } satisfies MetricsRequest);
    });
}
