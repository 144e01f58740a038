/** The servers under test, each in its own child process (or process tree, for WORKERS). */
import type { BenchChild } from "./child.js";
import { spawnChild } from "./child.js";
import type { FloodgateCounters } from "./probes.js";
import { cpuSeconds, floodgateCounters, sumValues } from "./probes.js";
import { BENCH_WORKERS, startWorkers } from "./server-workers.js";
import { DOMAIN } from "./workload.js";

export type ServerId = "baseline" | "memory" | "redis" | "peer" | "workers";

export interface BenchServer {
  readonly id: ServerId;
  readonly label: string;
  readonly grpcPort: number;
  readonly usesRedis: boolean;
  /** CPU seconds used so far by the server's process(es). */
  cpuSeconds(): number;
  /** Requests the server has answered so far (Floodgate: decisions on its /metrics). */
  requests(): Promise<number>;
  /** Floodgate only: decisions so far by source (redis, local_cache, ...) and failed Redis calls. */
  counters(): Promise<FloodgateCounters> | undefined;
  stop(): Promise<void>;
}

export const LABELS: Record<ServerId, string> = {
  baseline: "(a) baseline: bare grpc-js, no decode",
  memory: "(b) Floodgate, in-memory store",
  redis: "(c) Floodgate, Redis",
  peer: "(d) peer: grpc-js + rate-limiter-flexible",
  workers: `(e) Floodgate, Redis, WORKERS=${BENCH_WORKERS}`,
};

interface ServerPlan {
  readonly id: ServerId;
  readonly script: string;
  readonly args: readonly string[];
}

async function start(plan: ServerPlan, nodeFlags: readonly string[]): Promise<BenchServer> {
  const child: BenchChild = spawnChild(plan.script, { args: plan.args, nodeFlags });
  try {
    const ready = await child.next("ready", { timeoutMs: 30_000 });
    const httpPort = ready.httpPort as number | undefined;
    const counters = httpPort === undefined ? undefined : () => floodgateCounters(httpPort, DOMAIN);
    const counted = async (): Promise<number> =>
      (await child.next("stats", { timeoutMs: 5000, send: { type: "stats" } })).requests as number;
    return {
      id: plan.id,
      label: LABELS[plan.id],
      cpuSeconds: () => cpuSeconds(child.pid),
      grpcPort: ready.grpcPort as number,
      usesRedis: plan.id === "redis" || plan.id === "peer",
      requests: counters === undefined ? counted : async () => sumValues((await counters()).bySource),
      counters: () => counters?.(),
      stop: () => child.stop(),
    };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/** (e): the Redis-backed Floodgate again, as a WORKERS=2 cluster. */
async function startWorkersServer(settings: Record<string, string>): Promise<BenchServer> {
  const server = await startWorkers(settings);
  const counters = () => floodgateCounters(server.httpPort, DOMAIN);
  return {
    id: "workers",
    label: LABELS.workers,
    grpcPort: server.grpcPort,
    usesRedis: true,
    cpuSeconds: () => server.cpuSeconds(),
    requests: async () => sumValues((await counters()).bySource),
    counters,
    stop: () => server.stop(),
  };
}

/** Starts (a) to (e) side by side; stops whatever started if one fails. */
export async function startServers(options: {
  readonly rulesDir: string;
  readonly redisUrl: string;
  readonly nodeFlags: readonly string[];
  /** Extra Floodgate settings (BENCH_FLOODGATE_SETTINGS); none by default, to measure the defaults. */
  readonly floodgateSettings: Readonly<Record<string, string>>;
}): Promise<BenchServer[]> {
  const settings = (redis: Record<string, string>) =>
    JSON.stringify({ RULES_PATH: options.rulesDir, ...redis, ...options.floodgateSettings });
  const plans: ServerPlan[] = [
    { id: "baseline", script: "server-baseline.js", args: [] },
    { id: "memory", script: "server-floodgate.js", args: [settings({})] },
    { id: "redis", script: "server-floodgate.js", args: [settings({ REDIS_URL: options.redisUrl })] },
    { id: "peer", script: "server-peer.js", args: [options.redisUrl] },
  ];
  const workers = { RULES_PATH: options.rulesDir, REDIS_URL: options.redisUrl, ...options.floodgateSettings };
  const results = await Promise.allSettled([
    ...plans.map((plan) => start(plan, options.nodeFlags)),
    startWorkersServer(workers),
  ]);
  const started = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(started.map((server) => server.stop()));
    throw failed.reason;
  }
  return started;
}
