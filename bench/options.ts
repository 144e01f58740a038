/**
 * `make bench` settings: BENCH_* variables, read once, validated and frozen. The defaults are the
 * documented run; smaller values (e.g. BENCH_DURATION_S=1) make a quick smoke run.
 */
import { join } from "node:path";
import { PACKAGE_ROOT } from "../src/config/paths.js";

export type GeneratorChoice = "auto" | "node" | "h2load";

export interface BenchOptions {
  /** Measured seconds per scenario and server, after the warmup. */
  readonly durationS: number;
  readonly warmupS: number;
  /** Rounds per scenario: every server once per round, and each row is the median round. */
  readonly rounds: number;
  /** HTTP/2 connections per run, and streams in flight on each (as Envoy multiplexes). */
  readonly connections: number;
  readonly streams: number;
  /** Node generator processes sharing those connections. */
  readonly loadgenProcesses: number;
  readonly generator: GeneratorChoice;
  /** Key space: every user on every path, visited in a scattered order. */
  readonly users: number;
  readonly paths: number;
  /** Buckets for the local-store heap measurement. */
  readonly heapBuckets: number;
  /** Extra node flags for the server children, e.g. "--cpu-prof --cpu-prof-dir=bench-profiles". */
  readonly serverFlags: readonly string[];
  /** Floodgate settings for (b) and (c), e.g. "REDIS_TIMEOUT_MS=50"; empty: Floodgate's defaults. */
  readonly floodgateSettings: Readonly<Record<string, string>>;
  readonly outFile: string;
  /** The BENCH_* variables that were set, to print the command that reproduces the run. */
  readonly overrides: readonly string[];
}

type Env = Record<string, string | undefined>;

function numberVar(env: Env, name: string, range: { def: number; min: number; max: number }): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return range.def;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < range.min || value > range.max) {
    throw new Error(
      `${name} must be a number from ${range.min} to ${range.max} (got ${JSON.stringify(raw)})`,
    );
  }
  return value;
}

function settingsVar(env: Env): Record<string, string> {
  const pairs = (env.BENCH_FLOODGATE_SETTINGS ?? "").split(/\s+/).filter((pair) => pair !== "");
  return Object.fromEntries(
    pairs.map((pair) => {
      const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(pair);
      if (match === null) throw new Error(`BENCH_FLOODGATE_SETTINGS: "${pair}" is not NAME=value`);
      return [match[1]!, match[2]!];
    }),
  );
}

function generatorVar(env: Env): GeneratorChoice {
  const raw = env.BENCH_GENERATOR ?? "auto";
  if (raw === "auto" || raw === "node" || raw === "h2load") return raw;
  throw new Error(`BENCH_GENERATOR must be auto, node or h2load (got ${JSON.stringify(raw)})`);
}

export function readOptions(env: Env = process.env): BenchOptions {
  const int = (name: string, def: number, max: number) =>
    Math.round(numberVar(env, name, { def, min: 1, max }));
  return Object.freeze({
    durationS: numberVar(env, "BENCH_DURATION_S", { def: 5, min: 0.2, max: 600 }),
    warmupS: numberVar(env, "BENCH_WARMUP_S", { def: 1, min: 0, max: 60 }),
    rounds: int("BENCH_ROUNDS", 3, 20),
    connections: int("BENCH_CONNECTIONS", 4, 64),
    streams: int("BENCH_STREAMS", 32, 1000),
    loadgenProcesses: int("BENCH_LOADGEN_PROCS", 1, 16),
    generator: generatorVar(env),
    users: int("BENCH_USERS", 1000, 1_000_000),
    paths: int("BENCH_PATHS", 50, 10_000),
    heapBuckets: int("BENCH_HEAP_BUCKETS", 1_000_000, 10_000_000),
    serverFlags: (env.BENCH_SERVER_FLAGS ?? "").split(/\s+/).filter((flag) => flag !== ""),
    floodgateSettings: settingsVar(env),
    outFile: env.BENCH_OUT ?? join(PACKAGE_ROOT, "docs", "benchmarks.md"),
    overrides: Object.keys(env)
      .filter((name) => name.startsWith("BENCH_") && env[name] !== "")
      .sort()
      .map((name) => `${name}=${env[name]}`),
  });
}
