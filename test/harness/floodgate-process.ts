/**
 * Floodgate as a separate OS process: the built CLI (`node dist/src/app/cli.js serve`), exactly as
 * users run it. For tests that need several independent processes (global correctness) or a
 * process-wide fault such as a skewed clock (libfaketime), which an in-process server cannot have.
 *
 * `make test` builds dist/ before vitest; run `npm run build` by hand before running one file.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Client, ServiceClientConstructor } from "@grpc/grpc-js";
import { credentials } from "@grpc/grpc-js";
import { grpcObject } from "../../src/transport/grpc/proto.js";
import type { UnaryClient } from "../integration/support/floodgate.js";
import { exited, freePort, sleep, tailOutput, track } from "./processes.js";

export const CLI_PATH = join(import.meta.dirname, "../../dist/src/app/cli.js");

export interface FloodgateProcessOptions {
  /** RULES_PATH: a rules file or directory. */
  readonly rulesPath: string;
  /** REDIS_URL; omit for the in-memory store. */
  readonly redisUrl?: string;
  /** LOG_LEVEL. Default "info". */
  readonly logLevel?: string;
  /** Any other settings (REDIS_TIMEOUT_MS, REDIS_KEY_PREFIX, …). */
  readonly env?: Record<string, string>;
  /** A libfaketime spec such as "+1h": the process then runs with LD_PRELOAD and FAKETIME. */
  readonly faketime?: string;
  readonly startTimeoutMs?: number;
}

export interface FloodgateProcess {
  readonly pid: number;
  readonly grpcAddress: string;
  readonly httpUrl: string;
  /** Every JSON log line the process has written so far (pino level labels, e.g. "info"). */
  readonly logs: Record<string, unknown>[];
  readonly rls: UnaryClient;
  readonly rateLimiter: UnaryClient;
  /** The last few KB of stdout and stderr, for failure messages. */
  output(): string;
  /** SIGTERM, then waits for the exit; throws unless the process exited with code 0. */
  stop(graceMs?: number): Promise<void>;
}

/** Where Debian/Ubuntu (any architecture) and source installs put libfaketime. */
export async function findLibfaketime(): Promise<string | undefined> {
  const candidates = ["/usr/lib/faketime", "/usr/local/lib/faketime"];
  for (const entry of await readdir("/usr/lib").catch(() => [] as string[])) {
    if (entry.endsWith("-linux-gnu")) candidates.push(join("/usr/lib", entry, "faketime"));
  }
  return candidates.map((dir) => join(dir, "libfaketime.so.1")).find((path) => existsSync(path));
}

function lookup(path: string): ServiceClientConstructor {
  let node: unknown = grpcObject();
  for (const part of path.split(".")) node = (node as Record<string, unknown>)[part];
  return node as ServiceClientConstructor;
}

function clientsFor(address: string): { rls: UnaryClient; rateLimiter: UnaryClient } {
  const RLS = lookup("envoy.service.ratelimit.v3.RateLimitService");
  const RateLimiter = lookup("floodgate.v1.RateLimiter");
  return {
    rls: new RLS(address, credentials.createInsecure()) as unknown as UnaryClient,
    rateLimiter: new RateLimiter(address, credentials.createInsecure()) as unknown as UnaryClient,
  };
}

function collectLogs(child: ChildProcess, into: Record<string, unknown>[]): void {
  let partial = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      try {
        into.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line (e.g. a stack trace); output() still has it
      }
    }
  });
}

async function healthy(httpUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${httpUrl}/healthz`, { signal: AbortSignal.timeout(500) });
    return res.status === 200;
  } catch {
    return false;
  }
}

async function waitHealthy(child: ChildProcess, httpUrl: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (await healthy(httpUrl)) return true;
    await sleep(25);
  }
  return false;
}

async function childEnv(options: FloodgateProcessOptions): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    LOG_LEVEL: options.logLevel ?? "info",
    RULES_PATH: options.rulesPath,
    HOST: "127.0.0.1",
    ...(options.redisUrl === undefined ? {} : { REDIS_URL: options.redisUrl }),
    ...options.env,
  };
  if (options.faketime !== undefined) {
    const lib = await findLibfaketime();
    if (lib === undefined) {
      throw new Error("libfaketime not found: run scripts/ensure-test-tools.sh (apt-get install faketime)");
    }
    env.LD_PRELOAD = lib;
    env.FAKETIME = options.faketime;
  }
  return env;
}

async function spawnOnce(
  options: FloodgateProcessOptions,
  env: Record<string, string>,
): Promise<FloodgateProcess | string> {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [CLI_PATH, "serve"], {
    env: { ...env, GRPC_PORT: String(grpcPort), HTTP_PORT: String(httpPort) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);
  const output = tailOutput(child, 8000);
  const logs: Record<string, unknown>[] = [];
  collectLogs(child, logs);
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  if (!(await waitHealthy(child, httpUrl, options.startTimeoutMs ?? 15_000))) {
    child.kill("SIGKILL");
    await exited(child);
    return `floodgate did not become healthy on ${httpUrl}: ${output() || "no output"}`;
  }
  const grpcAddress = `127.0.0.1:${grpcPort}`;
  const clients = clientsFor(grpcAddress);
  return {
    pid: child.pid!,
    grpcAddress,
    httpUrl,
    logs,
    ...clients,
    output,
    stop: async (graceMs = 5000) => {
      for (const client of [clients.rls, clients.rateLimiter] as Client[]) client.close();
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited(child);
      clearTimeout(timer);
      if (child.exitCode !== 0) {
        throw new Error(
          `floodgate (pid ${child.pid}) exited with ${child.exitCode ?? child.signalCode} on SIGTERM: ${output()}`,
        );
      }
    },
  };
}

/** Starts `floodgate serve` on free loopback ports and waits until /healthz answers. */
export async function startFloodgateProcess(options: FloodgateProcessOptions): Promise<FloodgateProcess> {
  if (!existsSync(CLI_PATH)) {
    throw new Error(`${CLI_PATH} is missing: build first (npm run build, or make test)`);
  }
  const env = await childEnv(options);
  let failure = "";
  // A free port can be taken between the probe and the bind; fresh ports fix that.
  for (let attempt = 0; attempt < 3; attempt++) {
    const result = await spawnOnce(options, env);
    if (typeof result !== "string") return result;
    failure = result;
    if (!/EADDRINUSE/.test(result)) break;
  }
  throw new Error(failure);
}

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs the built CLI once (`floodgate ARGS`), with only PATH and `env` in its environment. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => resolve({ code: code ?? -1, out, err }));
  });
}
