/**
 * `make bench-instructions`: instructions executed per request, counted by valgrind's callgrind,
 * for (a) the baseline, (b) Floodgate in memory, (c) Floodgate on Redis and (d) the peer.
 *
 * Why, next to `make bench`: on a small shared machine (a VM whose speed drifts by a third within
 * minutes) requests per second compare servers only roughly. Callgrind counts instructions, not
 * seconds, so the count does not depend on what else the machine is doing: the same server twice
 * differs by about 1%. The count is of user-space work only (not the kernel's share of a system
 * call), which is what the servers' own code decides.
 *
 * Method: each server runs alone under `valgrind --tool=callgrind --instr-atstart=no`; h2load
 * sends BENCH_INSTR_WARMUP requests first (the JIT settles) with instrumentation off, then
 * BENCH_INSTR_REQUESTS with it on (one descriptor per request, 4 connections × 32 streams). Redis
 * runs on loopback and is not counted. Floodgate gets REDIS_TIMEOUT_MS=5000 here only: under
 * valgrind it runs ~50× slower, and the count must be of Redis decisions, not of the fallback.
 */
import { BUILT_CLI } from "./built-cli.js";
import type { ChildProcess } from "node:child_process";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../src/config/paths.js";
import { exited, findExecutable, freePort, sleep, terminate, track } from "../test/harness/processes.js";
import { startRedisServer } from "../test/harness/redis-server.js";
import { describeMachine } from "./machine.js";
import { Redis } from "ioredis";
import { requestFrames, RLS_PATH, RULES_YAML } from "./workload.js";

interface Subject {
  readonly id: string;
  readonly label: string;
  /** node arguments (script and its arguments). */
  readonly args: readonly string[];
  readonly env: Record<string, string>;
}

interface Counted {
  readonly subject: Subject;
  readonly perRequest: number;
}

const env = process.env;
const WARMUP = Number(env.BENCH_INSTR_WARMUP ?? 10_000);
const REQUESTS = Number(env.BENCH_INSTR_REQUESTS ?? 5_000);
const progress = (text: string): void => void process.stderr.write(`bench-instructions: ${text}\n`);

function run(
  command: string,
  args: readonly string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<string> {
  const { timeoutMs, env: childEnv = env } = options;
  return new Promise((resolve, reject) =>
    execFile(
      command,
      args,
      { timeout: timeoutMs, maxBuffer: 1 << 20, env: childEnv },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${command} failed: ${err.message} ${stderr.slice(-500)}`)) : resolve(stdout),
    ),
  );
}

async function listening(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}) before listening`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => resolve(true)).once("error", () => resolve(false));
      socket.once("close", () => socket.destroy());
      setTimeout(() => socket.destroy(), 1000);
    }).catch(() => false);
    if (open) return;
    await sleep(250);
  }
  throw new Error(`nothing listened on ${port} within 180 s`);
}

function h2load(port: number, body: string, requests: number): Promise<string> {
  const args = ["-n", String(requests), "-c", "4", "-m", "32", "-t", "1", "-d", body];
  const headers = ["-H", "content-type: application/grpc", "-H", "te: trailers"];
  return run("h2load", [...args, ...headers, `http://127.0.0.1:${port}${RLS_PATH}`], { timeoutMs: 600_000 });
}

/** Sum of the "totals:" lines of every callgrind output file of one subject. */
async function totalInstructions(dir: string, id: string): Promise<number> {
  let total = 0;
  for (const file of (await readdir(dir)).filter((name) => name.startsWith(`${id}.`))) {
    const match = /^totals:\s+(\d+)/m.exec(await readFile(join(dir, file), "utf8"));
    total += Number(match?.[1] ?? 0);
  }
  return total;
}

async function count(subject: Subject, paths: { dir: string; body: string }): Promise<Counted> {
  const port = await freePort();
  const valgrind = [
    "--tool=callgrind",
    "--instr-atstart=no",
    `--callgrind-out-file=${paths.dir}/${subject.id}.%p`,
  ];
  const child = spawn("valgrind", [...valgrind, process.execPath, ...subject.args], {
    env: {
      PATH: env.PATH ?? "/usr/bin:/bin",
      ...subject.env,
      BENCH_STANDALONE_PORT: String(port),
      GRPC_PORT: String(port),
    },
    stdio: "ignore",
  });
  track(child);
  try {
    await listening(port, child);
    progress(`${subject.label}: ${WARMUP} requests of warmup`);
    await h2load(port, paths.body, WARMUP);
    const pid = String(child.pid);
    // valgrind names its control pipes after $HOST, which is also Floodgate's listen address:
    // callgrind_control must see the same value to find them.
    const control = (...args: string[]) =>
      run("callgrind_control", [...args, pid], {
        timeoutMs: 60_000,
        env: { ...env, HOST: subject.env.HOST },
      });
    await control("-i", "on");
    progress(`${subject.label}: ${REQUESTS} requests counted`);
    const out = await h2load(port, paths.body, REQUESTS);
    await control("-i", "off");
    // Dump now rather than wait for the file written at exit.
    await control("-d");
    const succeeded = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
    if (succeeded !== REQUESTS) throw new Error(`${subject.label}: ${succeeded} of ${REQUESTS} succeeded`);
    child.kill("SIGTERM");
    await Promise.race([exited(child), sleep(60_000)]);
    return { subject, perRequest: (await totalInstructions(paths.dir, subject.id)) / REQUESTS };
  } finally {
    await terminate(child);
  }
}

function subjects(redisUrl: string, rulesDir: string): Subject[] {
  const bench = (script: string) => join(PACKAGE_ROOT, "dist", "bench", script);
  const floodgate = {
    ...{ RULES_PATH: rulesDir, HOST: "127.0.0.1", HTTP_PORT: "0", LOG_LEVEL: "error" },
    ...{ REDIS_TIMEOUT_MS: "5000", REDIS_KEY_PREFIX: "fginstr:" },
  };
  const cli = [BUILT_CLI, "serve"];
  return [
    { id: "a", label: "(a) baseline: bare grpc-js, no decode", args: [bench("server-baseline.js")], env: {} },
    { id: "b", label: "(b) Floodgate, in-memory store", args: cli, env: floodgate },
    { id: "c", label: "(c) Floodgate, Redis", args: cli, env: { ...floodgate, REDIS_URL: redisUrl } },
    {
      id: "d",
      label: "(d) peer: grpc-js + rate-limiter-flexible",
      args: [bench("server-peer.js"), redisUrl],
      env: {},
    },
  ];
}

function table(counted: readonly Counted[]): string {
  const base = counted[0]!.perRequest;
  const rows = counted.map(
    (c) =>
      `| ${c.subject.label} | ${Math.round(c.perRequest).toLocaleString("en-US")} | ${((100 * base) / c.perRequest).toFixed(0)}% |`,
  );
  return ["| server | instructions per request | (a) ÷ server |", "| --- | --: | --: |", ...rows].join("\n");
}

async function requireTools(): Promise<void> {
  for (const tool of ["valgrind", "callgrind_control", "h2load"]) {
    if ((await findExecutable(tool)) === undefined) {
      throw new Error(`${tool} is not installed (apt-get install -y valgrind nghttp2-client)`);
    }
  }
}

async function main(): Promise<void> {
  await requireTools();
  const dir = await mkdtemp(join(tmpdir(), "fg-instr-"));
  const redis = await startRedisServer();
  const client = new Redis(redis.url);
  try {
    const machine = await describeMachine(client);
    await writeFile(join(dir, "bench.yaml"), RULES_YAML);
    const body = join(dir, "body.bin");
    await writeFile(body, requestFrames("one", { users: 1000, paths: 50 })[0]!);
    const counted: Counted[] = [];
    for (const subject of subjects(redis.url, dir)) counted.push(await count(subject, { dir, body }));
    const about = [
      `- Machine: ${machine.cpu}, ${machine.cores} cores; Node ${machine.node}, Redis ${machine.redis}`,
      "- Command: `make bench-instructions`",
      `- Date: ${new Date().toISOString()}`,
      `- Method: each server alone under callgrind; ${WARMUP.toLocaleString("en-US")} requests of warmup uncounted, then ${REQUESTS.toLocaleString("en-US")} counted (h2load, 4 connections × 32 streams, one descriptor per request). Redis is not counted.`,
    ].join("\n");
    const text = [
      "# Instructions per request",
      "Written by `make bench-instructions` (bench/instructions.ts). See benchmarks.md for how to read it.",
      about,
      table(counted),
      "(a) ÷ server is the throughput the server would have against the baseline if its CPU were the only limit. The count is user-space instructions: the kernel's share of each system call is not in it. The same server measured twice differs by up to ~3%.",
    ].join("\n\n");
    process.stdout.write(`${table(counted)}\n`);
    const out = env.BENCH_INSTR_OUT ?? join(PACKAGE_ROOT, "docs", "benchmarks-instructions.md");
    const prettier = await import("prettier");
    await writeFile(
      out,
      await prettier.format(text, { ...((await prettier.resolveConfig(out)) ?? {}), filepath: out }),
    );
    progress(`wrote ${out}`);
  } finally {
    client.disconnect();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

await main();
