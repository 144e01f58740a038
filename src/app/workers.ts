import cluster from "node:cluster";
import type { Worker } from "node:cluster";
import { serveClusterMetrics } from "../observability/cluster-metrics.js";
import type { Logger } from "../observability/logger.js";

/**
 * WORKERS=N: N processes serve the same gRPC and HTTP ports (Node cluster; the primary hands out
 * connections). For central deployments on several cores. The primary only supervises: it
 * restarts a worker that dies, and on SIGTERM/SIGINT asks every worker to drain and exits when
 * they all have (0 if they all exited cleanly). Buckets are shared only through Redis: without
 * it, each worker limits on its own.
 */
export interface PrimaryOptions {
  readonly workers: number;
  readonly logger: Logger;
  /** How long to wait for workers to drain before killing them. */
  readonly graceMs: number;
}

const RESTART_DELAY_MS = 1000;

function forkAll(count: number): void {
  for (let i = 0; i < count; i++) cluster.fork();
}

export function runPrimary(options: PrimaryOptions): Promise<number> {
  const { logger, workers } = options;
  let stopping = false;
  let failures = 0;
  cluster.on("exit", (worker: Worker, code: number | null, signal: string | null) => {
    if (stopping) {
      if (code !== 0) failures++;
      return;
    }
    logger.error({ pid: worker.process.pid, code, signal }, "worker died; starting another");
    setTimeout(() => cluster.fork(), RESTART_DELAY_MS).unref();
  });
  // Each scrape, whichever worker answers it, reports every worker (cluster-metrics.ts).
  serveClusterMetrics();
  forkAll(workers);
  logger.info({ workers }, "primary started its workers");
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) process.exit(1);
      stopping = true;
      logger.info({ signal }, "asking workers to drain");
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
      const force = setTimeout(() => {
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
      }, options.graceMs + 5000).unref();
      cluster.on("exit", () => {
        if (Object.keys(cluster.workers ?? {}).length > 0) return;
        clearTimeout(force);
        resolve(failures === 0 ? 0 : 1);
      });
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });
}

export function isPrimaryOf(workers: number): boolean {
  return workers > 1 && cluster.isPrimary;
}

/** One of the workers a WORKERS > 1 primary forked (its /metrics aggregates them all). */
export function isClusterWorker(workers: number): boolean {
  return workers > 1 && cluster.isWorker;
}
