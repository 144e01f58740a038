/**
 * Small process and port helpers shared by the harness. Every child started here is killed when
 * the test process exits, so an aborted run never leaves a private server behind; nothing else
 * (no shared service) is ever signalled.
 */
import type { ChildProcess } from "node:child_process";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";

const live = new Set<ChildProcess>();
const exitHooks = new Set<() => void>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const proc of live) proc.kill("SIGKILL");
    for (const hook of exitHooks) hook();
  });
}

/** Remembers a child so that it is killed if the test process exits first. */
export function track(child: ChildProcess): void {
  installExitHook();
  live.add(child);
  child.once("exit", () => live.delete(child));
}

/**
 * Runs a synchronous cleanup if the test process exits before `release` is called (for daemons
 * such as postgres under pg_ctl, which are not our children).
 */
export function atExit(hook: () => void): () => void {
  installExitHook();
  exitHooks.add(hook);
  return () => void exitHooks.delete(hook);
}

/** A loopback port that was free a moment ago (the caller retries if it is taken meanwhile). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}

/** The executable `name` if it is a path, or found on PATH; undefined otherwise. */
export async function findExecutable(name: string): Promise<string | undefined> {
  const candidates = name.includes("/")
    ? [name]
    : (process.env.PATH ?? "").split(delimiter).map((d) => join(d, name));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next one
    }
  }
  return undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** SIGTERM, then SIGKILL if the child has not exited within `graceMs`. */
export async function terminate(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  // A child stopped by a fault test (SIGSTOP) only sees SIGTERM once continued.
  child.kill("SIGCONT");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited(child);
  clearTimeout(timer);
}

/** Keeps the last `limit` characters a child wrote, for error messages. */
export function tailOutput(child: ChildProcess, limit = 4000): () => string {
  let text = "";
  const keep = (chunk: Buffer): void => {
    text = (text + chunk.toString("utf8")).slice(-limit);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return () => text;
}

/** Error text for an unknown thrown value. */
export function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
