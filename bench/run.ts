/**
 * `make bench` (docs/benchmarks.md): starts the baseline, Floodgate in memory, Floodgate on a private Redis
 * and the rate-limiter-flexible peer, each in its own process; drives each with the same load;
 * prints a table per scenario and writes docs/benchmarks.md. A benchmark, not a test: it measures
 * and reports, and fails only when something could not be measured.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { RedisServer } from "../test/harness/redis-server.js";
import { startRedisServer } from "../test/harness/redis-server.js";
import { writeDocument } from "./document.js";
import { h2loadVersion } from "./h2load.js";
import { describeMachine } from "./machine.js";
import type { MeasureContext, Row } from "./measure.js";
import { measure, medianRound } from "./measure.js";
import { NODE_GENERATOR } from "./node-load.js";
import type { BenchOptions } from "./options.js";
import { readOptions } from "./options.js";
import type { BenchResults, HeapResult, HostileRun, ScenarioId, ScenarioResult } from "./report.js";
import { describeRun, heapResultOf, notes, targets, textTable } from "./report.js";
import type { BenchServer, ServerId } from "./servers.js";
import { startServers } from "./servers.js";
import type { Shape } from "./workload.js";
import { RULES_YAML } from "./workload.js";

const progress = (text: string): void => void process.stderr.write(`bench: ${text}\n`);

async function h2loadChoice(options: BenchOptions): Promise<string | undefined> {
  if (options.generator === "node") return undefined;
  const version = await h2loadVersion();
  if (version === undefined && options.generator === "h2load") {
    throw new Error(
      "BENCH_GENERATOR=h2load, but h2load is not installed (apt-get install -y nghttp2-client)",
    );
  }
  return version;
}

interface ScenarioPlan {
  readonly id: ScenarioId;
  readonly title: string;
  readonly servers: readonly ServerId[];
  readonly shape: Shape;
  /** Requests per second for the fixed-rate scenario; absent: as fast as answered. */
  readonly rate?: number;
}

/**
 * Every server once per round, round after round, so that a drift in the machine's speed (a noisy
 * neighbour on a VM) hits every server alike; each row is then the median round.
 */
async function scenario(plan: ScenarioPlan, all: readonly BenchServer[], context: RunContext) {
  const servers = all.filter((s) => plan.servers.includes(s.id));
  const rounds = new Map<ServerId, Row[]>(servers.map((s) => [s.id, []]));
  const run = (server: BenchServer) => ({
    port: server.grpcPort,
    shape: plan.shape,
    ...(plan.rate ? { rate: plan.rate } : {}),
  });
  for (let round = 1; round <= context.rounds; round++) {
    for (const server of servers) {
      progress(`${plan.title} · ${server.label} · round ${round} of ${context.rounds}`);
      rounds.get(server.id)!.push(await measure(server, run(server), context));
    }
  }
  const by = plan.rate === undefined ? "rps" : "p99";
  const rows = servers.map((s) => medianRound(rounds.get(s.id)!, by));
  const result: ScenarioResult = { id: plan.id, title: plan.title, rows };
  process.stdout.write(`\n${textTable(result)}`);
  for (const note of notes(result, plan.rate ?? 0)) process.stdout.write(`  note: ${note}\n`);
  return result;
}

/** 1 and 3 descriptors flat out, then half the baseline's rate, then the flood. */
interface RunContext extends MeasureContext {
  readonly rounds: number;
}

async function scenarios(servers: readonly BenchServer[], context: RunContext) {
  const every: ServerId[] = ["baseline", "memory", "redis", "peer"];
  const closed = `closed loop, ${context.shape.connections} connections × ${context.shape.streams} streams`;
  const run = (plan: ScenarioPlan) => scenario(plan, servers, context);
  const one = await run({
    id: "one",
    title: `1 descriptor per request, max throughput (${closed})`,
    servers: [...every, "workers"],
    shape: "one",
  });
  const three = await run({
    id: "three",
    title: `3 descriptors per request, max throughput (${closed})`,
    servers: every,
    shape: "three",
  });
  const baselineRps = one.rows.find((r) => r.server.id === "baseline")?.rps ?? Number.NaN;
  if (!(baselineRps > 0)) throw new Error("the baseline answered nothing: no rate for the fixed-rate run");
  const halfRate = baselineRps / 2;
  const rate = Math.round(halfRate).toLocaleString("en-US");
  const title = `1 descriptor per request at a fixed ${rate} req/s, half of (a)'s max`;
  const half = await run({ id: "half", title, servers: every, shape: "one", rate: halfRate });
  const flood = await run({
    id: "flood",
    title: `Flood: every request for one always-denied key (${closed})`,
    servers: ["redis", "peer"],
    shape: "flood",
  });
  return { scenarios: [one, three, half, flood], halfRate };
}

/** A bench script in its own process (node `flags` dist/bench/`script` `args`); its stdout. */
function runScript(script: string, options: { flags?: string[]; args: string[] }): Promise<string> {
  const path = join(import.meta.dirname, script);
  return new Promise((resolve, reject) => {
    const args = [...(options.flags ?? []), path, ...options.args];
    execFile(process.execPath, args, { timeout: 300_000 }, (err, stdout) =>
      err ? reject(new Error(`${script}: ${err.message}`)) : resolve(stdout.trim()),
    );
  });
}

/** bench/local-heap.js (it needs --expose-gc), with realistic or hostile values. */
async function heap(buckets: number, values: "realistic" | "hostile"): Promise<HeapResult> {
  const args = [String(buckets), ...(values === "hostile" ? ["hostile"] : [])];
  const line = await runScript("local-heap.js", { flags: ["--expose-gc"], args });
  const result = heapResultOf(line, buckets);
  if (result === undefined) throw new Error(`local-heap printed: ${line}`);
  return result;
}

/** bench/hostile-messages.js: a normal call while hostile messages are in flight. */
async function hostileMessages(): Promise<HostileRun[]> {
  const output = await runScript("hostile-messages.js", { args: [] });
  const result = /^result (.*)$/m.exec(output)?.[1];
  if (result === undefined) throw new Error(`hostile-messages printed: ${output}`);
  return JSON.parse(result) as HostileRun[];
}

function generatorName(h2load: string | undefined): string {
  return h2load === undefined
    ? `${NODE_GENERATOR}; open loop at the fixed rate, latency from the scheduled send time`
    : `${h2load}, one process per connection; --rps at the fixed rate, latency from the actual send`;
}

interface Environment {
  readonly options: BenchOptions;
  readonly h2load: string | undefined;
  readonly rulesDir: string;
  readonly redis: RedisServer;
  readonly client: Redis;
}

/** Starts the servers, runs every scenario, stops the servers, then measures the heap. */
async function measureAll(env: Environment): Promise<BenchResults> {
  const { options, h2load, client } = env;
  const servers = await startServers({
    ...{ rulesDir: env.rulesDir, redisUrl: env.redis.url },
    ...{ nodeFlags: options.serverFlags, floodgateSettings: options.floodgateSettings },
  });
  try {
    const shape = { ...options, processes: options.loadgenProcesses, space: options };
    const context = {
      ...{ shape, redis: client, redisPid: env.redis.process.pid ?? 0, h2load },
      rounds: options.rounds,
    };
    const measured = await scenarios(servers, context);
    await Promise.all(servers.map((server) => server.stop()));
    progress(`local store heap at ${options.heapBuckets} buckets`);
    const realistic = await heap(options.heapBuckets, "realistic");
    progress(`local store heap at ${options.heapBuckets} buckets, hostile values`);
    const hostileHeap = await heap(options.heapBuckets, "hostile");
    progress("a normal call under hostile messages");
    return { ...measured, heap: realistic, hostileHeap, hostile: await hostileMessages() };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

function printSummary(results: BenchResults): void {
  process.stdout.write(`\nLocal store heap: ${results.heap?.line ?? "not run"}\n`);
  process.stdout.write(`Local store heap: ${results.hostileHeap?.line ?? "not run"}\n`);
  for (const run of results.hostile ?? []) process.stdout.write(`${describeRun(run)}\n`);
  process.stdout.write("\nTargets\n");
  for (const t of targets(results)) {
    process.stdout.write(`  ${t.pass ? "PASS" : "FAIL"}  ${t.text}: ${t.measured}\n`);
  }
}

const shellWord = (word: string) => (/[\s"'$`\\]/.test(word) ? JSON.stringify(word) : word);

async function main(): Promise<void> {
  const options = readOptions();
  const h2load = await h2loadChoice(options);
  const rulesDir = await mkdtemp(join(tmpdir(), "fg-bench-rules-"));
  await writeFile(join(rulesDir, "bench.yaml"), RULES_YAML);
  const redis = await startRedisServer();
  const client = new Redis(redis.url);
  try {
    const machine = await describeMachine(client);
    const date = new Date();
    const generator = generatorName(h2load);
    process.stdout.write(`Load generator: ${generator}\n`);
    const results = await measureAll({ options, h2load, rulesDir, redis, client });
    printSummary(results);
    const command = [
      ...options.overrides.map((o) => o.replace(/=(.*)$/, (_, v: string) => `=${shellWord(v)}`)),
      "make bench",
    ].join(" ");
    const settings = `Per scenario: ${options.rounds} rounds, each server once per round (${options.warmupS} s warmup, then ${options.durationS} s measured), the median round reported; ${options.connections} HTTP/2 connections × ${options.streams} streams; keys: ${options.users} users × ${options.paths} paths`;
    await writeDocument(options.outFile, results, { machine, command, date, generator, settings });
    progress(`wrote ${options.outFile}`);
  } finally {
    client.disconnect();
    await redis.stop();
    await rm(rulesDir, { recursive: true, force: true });
  }
}

// Ctrl-C: exit through process.exit so the harness's exit hook kills every child (Redis included).
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

await main();
