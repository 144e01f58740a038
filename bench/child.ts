/**
 * Parent side of the bench's child processes (`node dist/bench/<script>.js`): each server and each
 * Node generator runs in its own process, so none shares an event loop with another. They talk
 * over the IPC channel; every wait has a deadline, and every child dies with the bench.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import type { Server } from "@grpc/grpc-js";
import { ServerCredentials } from "@grpc/grpc-js";
import { join } from "node:path";
import { exited, tailOutput, terminate, track } from "../test/harness/processes.js";

export interface ChildMessage {
  readonly type: string;
  readonly [field: string]: unknown;
}

export interface BenchChild {
  readonly pid: number;
  readonly process: ChildProcess;
  /** The last few KB the child wrote, for error messages. */
  output(): string;
  /** Sends `message` (if any) and waits for the next message of type `reply`. */
  next(reply: string, options: { timeoutMs: number; send?: ChildMessage }): Promise<ChildMessage>;
  /** Asks the child to close cleanly (so --cpu-prof profiles are written), then kills it. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  readonly args?: readonly string[];
  readonly nodeFlags?: readonly string[];
}

function waitFor(child: ChildProcess, reply: string, options: { timeoutMs: number; output: () => string }) {
  return new Promise<ChildMessage>((resolve, reject) => {
    const onMessage = (message: ChildMessage): void => {
      if (message.type === "error") finish(new Error(String(message.message)));
      else if (message.type === reply) finish(message);
    };
    const onExit = (code: number | null): void =>
      finish(new Error(`child exited (${code}) before "${reply}": ${options.output()}`));
    const timer = setTimeout(
      () =>
        finish(new Error(`no "${reply}" from the child within ${options.timeoutMs} ms: ${options.output()}`)),
      options.timeoutMs,
    );
    function finish(result: ChildMessage | Error): void {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      if (result instanceof Error) reject(result);
      else resolve(result);
    }
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/** Starts `node <nodeFlags> dist/bench/<script> <args>` with an IPC channel. */
export function spawnChild(script: string, options: SpawnOptions = {}): BenchChild {
  const path = join(import.meta.dirname, script);
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), path, ...(options.args ?? [])], {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  track(child);
  child.on("error", () => undefined);
  const output = tailOutput(child);
  return {
    pid: child.pid ?? 0,
    process: child,
    output,
    next: (reply, { timeoutMs, send }) => {
      const waiting = waitFor(child, reply, { timeoutMs, output });
      if (send !== undefined) child.send(send);
      return waiting;
    },
    stop: async (graceMs = 5000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // The child may be exiting already: a failed send is fine, the timer below still kills it.
      if (child.connected) child.send({ type: "stop" }, () => undefined);
      const timer = setTimeout(() => void terminate(child), graceMs);
      await exited(child);
      clearTimeout(timer);
    },
  };
}

/** Child side: announce readiness, answer "stats", close on "stop" or when the parent goes away. */
export function serveParent(handlers: {
  readonly ready: Record<string, unknown>;
  readonly requests: () => number;
  readonly close: () => Promise<void>;
}): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error("start this through the bench (node dist/bench/run.js)");
  let closing = false;
  const close = (): void => {
    if (closing) return;
    closing = true;
    handlers.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("message", (message: ChildMessage) => {
    if (message.type === "stats") send({ type: "stats", requests: handlers.requests() });
    if (message.type === "stop") close();
  });
  process.on("disconnect", close);
  send({ type: "ready", ...handlers.ready });
}

/**
 * Child side, for a bare grpc-js server: binds it to a free loopback port, then serves the parent
 * (ready with grpcPort; close is a graceful shutdown, then `afterShutdown`).
 */
export async function serveGrpcParent(
  server: Server,
  handlers: { readonly requests: () => number; readonly afterShutdown?: () => void },
): Promise<void> {
  // Standalone (bench/instructions.ts runs the servers under valgrind, with no IPC channel): serve
  // the given port until SIGTERM.
  const standalone = process.send === undefined ? process.env.BENCH_STANDALONE_PORT : undefined;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${standalone ?? 0}`, ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  if (standalone !== undefined) {
    process.once("SIGTERM", () =>
      server.tryShutdown(() => {
        handlers.afterShutdown?.();
        process.exit(0);
      }),
    );
    return;
  }
  serveParent({
    ready: { grpcPort: port },
    requests: handlers.requests,
    close: async () => {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      handlers.afterShutdown?.();
    },
  });
}

/** Child side: report a startup failure to the parent instead of dying silently. */
export function reportFailure(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`${message}\n`);
  if (process.send === undefined) process.exit(1);
  process.send({ type: "error", message }, () => process.exit(1));
}
