/**
 * docs/benchmarks.md, rewritten by every `make bench`. The section on what limits the numbers is
 * written by people: it is carried over from the previous file.
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import type { Machine } from "./machine.js";
import type { BenchResults, Target } from "./report.js";
import { describeRun, markdownTable, notes, targets } from "./report.js";

export interface RunInfo {
  readonly machine: Machine;
  readonly command: string;
  readonly date: Date;
  readonly generator: string;
  readonly settings: string;
}

const LIMITS_HEADING = "## What limits it / what was tried";
const LIMITS_PLACEHOLDER =
  "_To be written: the CPU profiles (`BENCH_SERVER_FLAGS=--cpu-prof`), what they showed, what was changed and what each change bought._";

/** The human-written section of the previous file, or the placeholder. */
async function previousLimits(path: string): Promise<string> {
  if (!existsSync(path)) return LIMITS_PLACEHOLDER;
  const text = await readFile(path, "utf8");
  const start = text.indexOf(LIMITS_HEADING);
  if (start < 0) return LIMITS_PLACEHOLDER;
  const rest = text.slice(start + LIMITS_HEADING.length);
  const end = rest.search(/\n## /);
  return (end < 0 ? rest : rest.slice(0, end)).trim() || LIMITS_PLACEHOLDER;
}

function targetTable(list: readonly Target[]): string {
  const rows = list.map((t) => `| ${t.text} | ${t.measured} | ${t.pass ? "PASS" : "**FAIL**"} |`);
  return ["| target | measured | result |", "| --- | --- | --- |", ...rows].join("\n");
}

function machineSection(info: RunInfo): string {
  const m = info.machine;
  return [
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB memory, ${m.kernel}`,
    `- Load average when the run started: ${m.loadAtStart.join(", ")} (other work on the machine skews the numbers)`,
    `- Node ${m.node}, Redis ${m.redis} (a private redis-server on loopback)`,
    `- Command: \`${info.command}\``,
    `- Date: ${info.date.toISOString()}`,
    `- Load generator: ${info.generator}`,
    `- ${info.settings}`,
  ].join("\n");
}

const HOSTILE_METHOD = `bench/hostile-messages.ts: Floodgate with its defaults (in-memory store); another
process keeps 16 hostile ShouldRateLimit messages in flight over 4 connections, and a normal call
is sent every 10 ms on a fifth connection, open loop (timed from when it was due), for 5 s.`;

const HOW_TO_READ = `- (a) answers a fixed response without decoding: the cost of the gRPC transport alone. (b) and
  (c) are Floodgate with its defaults; (d) is a bare grpc-js server deciding each descriptor with
  rate-limiter-flexible's \`RateLimiterRedis\` (a Lua script per descriptor) on the same Redis.
  (e), in the 1-descriptor run only, is (c) started with \`WORKERS=2\` (\`floodgate serve\`, a
  Node cluster of two workers on one port): what a second process buys on this machine.
- Rounds: every server is measured once per round, round after round, so that a change in the
  machine's speed during the run (a VM's neighbours) hits every server alike. Each row is the
  median round (by req/s flat out, by p99 at the fixed rate), whole, so all its figures come from
  one run; "rounds" lists every round's req/s, in order, to show the spread.
- Each server runs in its own process; the generator runs in others. All share the machine's cores
  with each other and with Redis, so "vs (a)" compares servers under the same handicap.
- The fixed-rate run: the Node generator is open loop (requests leave on a schedule, latency
  counts from the scheduled time; "generator lag" is how late it sent, and is part of the latency).
  h2load's \`--rps\` times each request from when it actually left, so a stall that holds up
  sending is under-reported.
- Redis calls per request: EVAL/EVALSHA/EXEC calls (INFO commandstats) divided by the requests the
  server answered over the same span. Commands a script runs inside Redis are not counted.
- CPU %: of one core, over the run, from /proc; 100% means that process was the bottleneck.
- Decision source: Floodgate's own \`floodgate_decisions_total\` by source, read from its /metrics:
  \`redis\`, \`local_cache\` (the over-limit cache) or \`local\` (the fallback store, used while
  Redis is failing or slower than \`REDIS_TIMEOUT_MS\`).
- h2load cannot read gRPC trailers: with it, errors are HTTP/2-level failures only. The Node
  generator counts every grpc-status other than 0, and requests not answered in time.
- Knobs (environment): \`BENCH_ROUNDS\`, \`BENCH_DURATION_S\`, \`BENCH_WARMUP_S\`, \`BENCH_CONNECTIONS\`,
  \`BENCH_STREAMS\`, \`BENCH_LOADGEN_PROCS\`, \`BENCH_GENERATOR\` (auto, node or h2load),
  \`BENCH_USERS\`, \`BENCH_PATHS\`, \`BENCH_HEAP_BUCKETS\`, \`BENCH_SERVER_FLAGS\` (node flags for
  the servers, e.g. \`--cpu-prof --cpu-prof-dir=bench-profiles\`), \`BENCH_FLOODGATE_SETTINGS\`
  (e.g. \`REDIS_TIMEOUT_MS=50\`; default: none, Floodgate's defaults), \`BENCH_OUT\`.`;

export async function writeDocument(path: string, results: BenchResults, info: RunInfo): Promise<void> {
  const tables = results.scenarios.map((s) => {
    const remarks = notes(s, results.halfRate).map((note) => `\n\n> ${note}`);
    return `### ${s.title}\n\n${markdownTable(s)}${remarks.join("")}`;
  });
  const heap = [results.heap, results.hostileHeap]
    .map((h) => (h === undefined ? "- Not run." : `- \`${h.line}\``))
    .join("\n");
  const hostile = (results.hostile ?? []).map((run) => `- ${describeRun(run)}`).join("\n") || "Not run.";
  const text = [
    "# Benchmarks",
    "Written by `make bench` (bench/run.ts); do not edit by hand except the section on what limits it.",
    `## Run\n\n${machineSection(info)}`,
    `## Targets\n\n${targetTable(targets(results))}`,
    `## Results\n\n${tables.join("\n\n")}\n\n### Local store heap\n\n${heap}\n\n### Hostile messages\n\n${HOSTILE_METHOD}\n\n${hostile}`,
    `## How to read it\n\n${HOW_TO_READ}`,
    `${LIMITS_HEADING}\n\n${await previousLimits(path)}`,
  ].join("\n\n");
  await writeFile(path, await formatted(text, path));
}

/** Prettier's own Markdown formatting, so `make test`'s format check stays green after a run. */
async function formatted(text: string, path: string): Promise<string> {
  try {
    const prettier = await import("prettier");
    const config = (await prettier.resolveConfig(path)) ?? {};
    return await prettier.format(text, { ...config, filepath: path });
  } catch {
    return `${text}\n`;
  }
}
