import { status } from "@grpc/grpc-js";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emptyDescriptors, openLoopLatencies, rawClient, send } from "../harness/hostile-sender.js";
import { tailOutput, track } from "../harness/processes.js";
import type { TestServer } from "./support/floodgate.js";
import { startTestServer } from "./support/floodgate.js";
import { RL_RULES } from "./support/rules.js";

/**
 * Issue 10, item 2: a hostile ShouldRateLimit message must be refused before it costs the event
 * loop. Before the fix, one ~1 MB message of 500,000 empty descriptors was decoded in full before
 * the 64-descriptor limit applied. The hostile messages come from a process of their own
 * (test/harness/hostile-sender.ts, built by `make test`), so that sending them does not load this
 * process's event loop, which serves Floodgate.
 */
const SENDER = join(import.meta.dirname, "../../dist/test/harness/hostile-sender.js");
const ATTACK_MS = 2500;
/** domain "rl", descriptor [(user, probe-1)]. */
const NORMAL = Buffer.from("0a02726c12110a0f0a0475736572120770726f62652d31", "hex");

/** Runs the sender against `port`; resolves with how its messages were answered. */
function attack(port: number, descriptors: number): Promise<Record<string, number>> {
  if (!existsSync(SENDER)) throw new Error(`${SENDER} is missing: run npx tsc -p tsconfig.build.json first`);
  const args = [SENDER, String(port), "rl", String(descriptors), String(ATTACK_MS)];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe", "ipc"] });
  track(child);
  const output = tailOutput(child);
  return new Promise((resolve, reject) => {
    child.once("message", (message: { answers: Record<string, number> }) => resolve(message.answers));
    child.once("exit", (code) => reject(new Error(`the sender exited (${code}): ${output()}`)));
  });
}

describe("hostile messages", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ rules: { "rl.yaml": RL_RULES }, memory: true });
  });
  afterAll(async () => server.stop());

  it.each([
    // Over the message cap: refused from the length prefix, before the body is buffered.
    ["~1 MB, 500,000 empty descriptors", 500_000, "RESOURCE_EXHAUSTED"],
    // Just under it: decoded, and refused at the 65th descriptor.
    ["~508 KiB, 260,000 empty descriptors", 260_000, "INVALID_ARGUMENT"],
  ])("of %s do not hold up a normal call on another connection", async (_name, descriptors, answer) => {
    expect(emptyDescriptors("rl", descriptors).length).toBeGreaterThan(128_000);
    const probe = rawClient(server.app.grpcPort);
    expect(await send(probe, NORMAL)).toBe(status.OK);
    const answers = attack(server.app.grpcPort, descriptors);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const probed = await openLoopLatencies(probe, NORMAL, { count: 100, everyMs: 20 });
    probe.close();
    expect(probed.failures).toBe(0);
    const latencies = probed.latencies.sort((a, b) => a - b);
    // Generous, for a noisy machine (Envoy's default timeout is 20 ms; docs/benchmarks.md has the
    // measurement). Measured here: a median of 1 to 2 ms after the fix; before it 294 ms with the
    // ~1 MB messages, and 32 to 50 ms with ~128 KB ones (the decoder alone, under the cap).
    expect(latencies[Math.floor(latencies.length / 2)]).toBeLessThan(25);
    expect(Object.keys(await answers)).toEqual([answer]);
  });
});
