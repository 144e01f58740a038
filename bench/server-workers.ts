/**
 * Server (e): Floodgate on Redis with WORKERS=2, started as an operator would (`floodgate serve`),
 * so the Node cluster primary hands connections to two worker processes. Its settings come from an
 * explicit environment (PATH and the bench's settings only), never the bench's own.
 * Its /metrics aggregates both workers, so its row has decision sources and Redis calls per
 * request like (c); its CPU is the primary's and the workers' summed.
 */
import { BUILT_CLI } from "./built-cli.js";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { freePort, sleep, tailOutput, terminate, track } from "../test/harness/processes.js";
import { cpuSeconds } from "./probes.js";

export const BENCH_WORKERS = 2;

/** The pid and its children's (the cluster's workers), from /proc. */
function processTree(pid: number): number[] {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return [
      pid,
      ...children
        .split(/\s+/)
        .filter((c) => c !== "")
        .map(Number),
    ];
  } catch {
    return [pid];
  }
}

async function ready(httpPort: number, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(1000) })
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`WORKERS=${BENCH_WORKERS} Floodgate not ready within 30 s: ${output()}`);
}

export interface WorkersServer {
  readonly pid: number;
  readonly grpcPort: number;
  readonly httpPort: number;
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export async function startWorkers(settings: Record<string, string>): Promise<WorkersServer> {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    ...{ HOST: "127.0.0.1", GRPC_PORT: String(grpcPort), HTTP_PORT: String(httpPort) },
    ...{ REDIS_KEY_PREFIX: "fgbench:", LOG_LEVEL: "error", SHUTDOWN_GRACE_MS: "500" },
    WORKERS: String(BENCH_WORKERS),
    ...settings,
  };
  const cli = BUILT_CLI;
  const child = spawn(process.execPath, [cli, "serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  const output = tailOutput(child);
  try {
    await ready(httpPort, output);
    // Both workers listen once the primary has forked them; give the second one its moment.
    await sleep(500);
  } catch (error) {
    await terminate(child);
    throw error;
  }
  const pid = child.pid ?? 0;
  return {
    pid,
    grpcPort,
    httpPort,
    cpuSeconds: () => processTree(pid).reduce((sum, p) => sum + cpuSeconds(p), 0),
    stop: () => terminate(child, 5000),
  };
}
