/** The four servers under test, each in its own child process. */
import type { BenchChild } from "./child.js";
import { spawnChild } from "./child.js";
import { decisionsBySource, sumValues } from "./probes.js";
import { DOMAIN } from "./workload.js";

export type ServerId = "baseline" | "memory" | "redis" | "peer";

export interface BenchServer {
  readonly id: ServerId;
  readonly label: string;
  readonly pid: number;
  readonly grpcPort: number;
  readonly usesRedis: boolean;
  /** Requests the server has answered so far (Floodgate: decisions on its /metrics). */
  requests(): Promise<number>;
  /** Floodgate only: decisions so far by source (redis, local_cache, ...). */
  decisions(): Promise<Record<string, number>> | undefined;
  stop(): Promise<void>;
}

export const LABELS: Record<ServerId, string> = {
  baseline: "(a) baseline: bare grpc-js, no decode",
  memory: "(b) Floodgate, in-memory store",
  redis: "(c) Floodgate, Redis",
  peer: "(d) peer: grpc-js + rate-limiter-flexible",
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
    const decisions = httpPort === undefined ? undefined : () => decisionsBySource(httpPort, DOMAIN);
    const counted = async (): Promise<number> =>
      (await child.next("stats", { timeoutMs: 5000, send: { type: "stats" } })).requests as number;
    return {
      id: plan.id,
      label: LABELS[plan.id],
      pid: child.pid,
      grpcPort: ready.grpcPort as number,
      usesRedis: plan.id === "redis" || plan.id === "peer",
      requests: decisions === undefined ? counted : async () => sumValues(await decisions()),
      decisions: () => decisions?.(),
      stop: () => child.stop(),
    };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/** Starts (a) to (d) side by side; stops whatever started if one fails. */
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
  const results = await Promise.allSettled(plans.map((plan) => start(plan, options.nodeFlags)));
  const started = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(started.map((server) => server.stop()));
    throw failed.reason;
  }
  return started;
}
