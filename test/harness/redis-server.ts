/**
 * Private redis-server instances for tests, and the discovery of the suite's Redis
 * (docs/architecture.md, "Testing").
 *
 * A private server listens on a free loopback port with no persistence in its own temp dir, so a
 * test may flush, stop, pause (SIGSTOP) or kill it. Only servers started here are ever signalled.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findExecutable, freePort, reason, sleep, tailOutput, terminate, track } from "./processes.js";

export interface StartRedisOptions {
  /** The redis-server binary. Default: REDIS_SERVER_BIN, else redis-server on PATH. */
  readonly bin?: string;
  /** Listen on this port (e.g. to restart on the same one). Default: a free port. */
  readonly port?: number;
  /** Extra redis-server arguments, e.g. ["--maxmemory", "10mb"]. */
  readonly args?: readonly string[];
  readonly startTimeoutMs?: number;
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly process: ChildProcess;
  /** Terminates the server (SIGTERM, then SIGKILL) and removes its directory. */
  stop(): Promise<void>;
  /** Sends a signal: SIGSTOP/SIGCONT to freeze it, SIGKILL to crash it. */
  kill(signal: NodeJS.Signals): void;
}

/** Where the suite's Redis came from: REDIS_URL, a private redis-server, or testcontainers. */
export type RedisSource = "env" | "local" | "container";

export interface RedisTarget {
  readonly url: string;
  readonly source: RedisSource;
  /** Stops what the harness started; a no-op for REDIS_URL. */
  stop(): Promise<void>;
}

export function redisServerBin(): string {
  return process.env.REDIS_SERVER_BIN ?? "redis-server";
}

/** True once something on `port` answers PING with PONG. */
export function pingPort(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => done(data.toString("utf8").startsWith("+PONG")));
  });
}

async function waitForPing(child: ChildProcess, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (await pingPort(port)) return true;
    await sleep(20);
  }
  return false;
}

async function startOnce(
  bin: string,
  port: number,
  options: StartRedisOptions,
): Promise<RedisServer | string> {
  const dir = await mkdtemp(join(tmpdir(), "fg-redis-"));
  const args = ["--save", "", "--appendonly", "no", "--port", String(port), "--bind", "127.0.0.1"];
  args.push("--dir", dir, "--loglevel", "warning", ...(options.args ?? []));
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  const output = tailOutput(child);
  let spawnError = "";
  child.once("error", (error) => (spawnError = error.message));
  if (await waitForPing(child, port, options.startTimeoutMs ?? 10_000)) {
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      dir,
      process: child,
      stop: async () => {
        await terminate(child);
        await rm(dir, { recursive: true, force: true });
      },
      kill: (signal) => void child.kill(signal),
    };
  }
  await terminate(child);
  await rm(dir, { recursive: true, force: true });
  return `redis-server on port ${port} did not answer PING: ${spawnError || output() || "no output"}`;
}

/** Starts a private redis-server and waits until it answers PING. */
export async function startRedisServer(options: StartRedisOptions = {}): Promise<RedisServer> {
  const bin = options.bin ?? redisServerBin();
  if ((await findExecutable(bin)) === undefined) throw new Error(`${bin} not found`);
  const attempts = options.port === undefined ? 3 : 1;
  let failure = "";
  for (let attempt = 0; attempt < attempts; attempt++) {
    // A free port can be taken between the probe and the bind; a new port fixes that.
    const result = await startOnce(bin, options.port ?? (await freePort()), options);
    if (typeof result !== "string") return result;
    failure = result;
  }
  throw new Error(failure);
}

async function startRedisContainer(): Promise<RedisTarget> {
  const { GenericContainer, getContainerRuntimeClient } = await import("testcontainers");
  await getContainerRuntimeClient(); // throws when no Docker engine is reachable
  const container = await new GenericContainer("redis:7-alpine").withExposedPorts(6379).start();
  return {
    url: `redis://${container.getHost()}:${container.getMappedPort(6379)}`,
    source: "container",
    stop: async () => void (await container.stop()),
  };
}

/** REDIS_URL, else a private redis-server, else testcontainers, else an error naming all three. */
export async function findRedis(): Promise<RedisTarget> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv !== undefined && fromEnv !== "") {
    return { url: fromEnv, source: "env", stop: () => Promise.resolve() };
  }
  const failures: string[] = [];
  try {
    const server = await startRedisServer();
    return { url: server.url, source: "local", stop: () => server.stop() };
  } catch (error) {
    failures.push(`local redis-server: ${reason(error)}`);
  }
  try {
    return await startRedisContainer();
  } catch (error) {
    failures.push(`testcontainers: ${reason(error)}`);
  }
  throw new Error(
    "No Redis for the tests. Set REDIS_URL, or install redis-server (on PATH or REDIS_SERVER_BIN), " +
      `or make a Docker engine reachable for testcontainers. Tried: ${failures.join("; ")}`,
  );
}
