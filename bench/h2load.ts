/**
 * h2load (nghttp2-client) as the generator, when it is installed: it costs far less CPU per request
 * than any Node client, so on a small machine it leaves more of the cores to the server.
 *
 * h2load sends one request body per process (`-d FILE`), so the keys are varied by running one
 * h2load process per connection, each with its own body. It cannot see gRPC trailers: errors are
 * h2load's failed, errored and timed-out requests plus non-2xx answers, not grpc-status. Latency
 * percentiles come from its per-request log (`--log-file`). At a fixed rate (`--rps`) h2load times
 * each request from when it actually left, not from when it was due, so a server stall that
 * holds up sending is under-reported; the Node generator times from the schedule.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { track } from "../test/harness/processes.js";
import { Histogram } from "./histogram.js";
import type { LoadResult, LoadRun, LoadShape } from "./node-load.js";
import { requestFrames } from "./workload.js";

/** "h2load nghttp2/1.52.0", or undefined when h2load is not on PATH. */
export function h2loadVersion(): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile("h2load", ["--version"], { timeout: 5000 }, (err, stdout) =>
      resolve(err ? undefined : stdout.trim().split("\n")[0]),
    );
  });
}

interface Outcome {
  readonly stdout: string;
  readonly log: string;
}

function runOne(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("h2load", args, { stdio: ["ignore", "pipe", "pipe"] });
    track(child);
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`h2load exited with ${code}: ${output.slice(-2000)}`));
    });
  });
}

/**
 * h2load 1.52 now and then ends a timed run with exit code 0 but without its summary ("Stopped all
 * clients", then nothing; seen 2 runs in 2 of `make bench`, on different servers). Such a run
 * measured nothing usable: it is run again, up to twice.
 */
const SUMMARY = /requests: \d+ total/;
const ATTEMPTS = 3;

async function runMeasured(args: string[], timeoutMs: number): Promise<string> {
  let output = "";
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    output = await runOne(args, timeoutMs);
    if (SUMMARY.test(output)) return output;
    process.stderr.write(`bench: h2load printed no summary (attempt ${attempt} of ${ATTEMPTS})\n`);
  }
  return output;
}

function count(stdout: string, pattern: RegExp): number {
  const match = pattern.exec(stdout);
  if (match === null) throw new Error(`h2load output did not match ${pattern}: ${stdout.slice(-2000)}`);
  return Number(match[1]);
}

/** Rows are start µs, HTTP status, µs taken; h2load logs only the measured phase, not the warmup. */
function logLatency(logs: readonly string[]): Histogram {
  const latency = new Histogram();
  for (const log of logs) {
    for (const line of log.split("\n")) {
      const took = line.split("\t")[2];
      if (took !== undefined) latency.record(Number(took));
    }
  }
  return latency;
}

function argsFor(run: LoadRun, shape: LoadShape, files: { body: string; log: string }): string[] {
  return [
    ...["-c", "1", "-t", "1", "-m", String(shape.streams)],
    ...(run.rate === undefined ? [] : ["--rps", (run.rate / shape.connections).toFixed(1)]),
    ...["-D", `${Math.round(shape.durationS * 1000)}ms`],
    ...(shape.warmupS > 0 ? ["--warm-up-time", `${Math.round(shape.warmupS * 1000)}ms`] : []),
    ...["-d", files.body, "--log-file", files.log],
    ...["-H", "content-type: application/grpc", "-H", "te: trailers"],
    `http://127.0.0.1:${run.port}/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`,
  ];
}

async function runAll(run: LoadRun, shape: LoadShape, dir: string): Promise<Outcome[]> {
  const frames = requestFrames(run.shape, shape.space);
  const timeoutMs = (shape.warmupS + shape.durationS) * 1000 + 30_000;
  return Promise.all(
    Array.from({ length: shape.connections }, async (_, p) => {
      const files = { body: join(dir, `body-${p}.bin`), log: join(dir, `log-${p}.tsv`) };
      await writeFile(files.body, frames[Math.floor((p * frames.length) / shape.connections)]!);
      const stdout = await runMeasured(argsFor(run, shape, files), timeoutMs);
      return { stdout, log: await readFile(files.log, "utf8") };
    }),
  );
}

/** One h2load process per connection, all at once; their counts are summed. */
export async function runH2load(run: LoadRun, shape: LoadShape): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), "fg-bench-h2load-"));
  try {
    const outcomes = await runAll(run, shape, dir);
    const total = (pattern: RegExp) => outcomes.reduce((n, o) => n + count(o.stdout, pattern), 0);
    // "failed" includes h2load's errored and timed-out requests; its status-code counts are not
    // aligned with the warmup boundary, so they are not used.
    const errors = total(/(\d+) failed/);
    return {
      rps: total(/(\d+) succeeded/) / shape.durationS,
      measured: total(/(\d+) done/),
      errors,
      dropped: 0,
      latency: logLatency(outcomes.map((o) => o.log)),
      lag: undefined,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
