/**
 * A normal ShouldRateLimit's latency, and Floodgate's memory, while 16 hostile messages are in
 * flight on other connections (docs/security.md, threat 2; target: answered within Envoy's 20 ms). Not a
 * test: it measures and prints. `make bench` runs it; alone: `node dist/bench/hostile-messages.js`
 * after `make build`.
 *
 * Three processes: Floodgate (its defaults, in-memory store), the attacker
 * (test/harness/hostile-sender.ts: 16 hostile messages in flight over 4 connections of its own),
 * and this one, which sends a normal request every 10 ms (open loop: timed from when it was due)
 * on one more connection and samples Floodgate's RSS every 50 ms. Prints one line per case, then `result <JSON>` for bench/run.ts.
 */
import type { MethodDefinition } from "@grpc/proto-loader";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageDefinition, RLS_SERVICE } from "../src/transport/grpc/proto.js";
import type { RawClient } from "../test/harness/hostile-sender.js";
import {
  emptyDescriptors,
  HOSTILE_IN_FLIGHT,
  openLoopLatencies,
  rawClient,
  send,
} from "../test/harness/hostile-sender.js";
import { spawnChild } from "./child.js";
import { Histogram } from "./histogram.js";
import type { HostileRun } from "./report.js";
import { describeRun } from "./report.js";
import { DOMAIN, RULES_YAML } from "./workload.js";

const ATTACK_MS = 6000;
const SETTLE_MS = 500;
const PROBE_EVERY_MS = 10;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function normalRequest(): Buffer {
  const service = packageDefinition()[RLS_SERVICE] as Record<string, MethodDefinition<object, object>>;
  return service.ShouldRateLimit!.requestSerialize({
    domain: DOMAIN,
    descriptors: [
      {
        entries: [
          { key: "user", value: "probe" },
          { key: "path", value: "/v1/orders" },
        ],
      },
    ],
  });
}

function rssMiB(pid: number): number {
  const kib = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kib ?? Number.NaN) / 1024;
}

/** Normal calls, one due every PROBE_EVERY_MS (open loop), for `ms`; Floodgate's RSS sampled meanwhile. */
async function probe(client: RawClient, serverPid: number, ms: number) {
  let rssPeak = rssMiB(serverPid);
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(serverPid))), 50);
  const schedule = { count: Math.round(ms / PROBE_EVERY_MS), everyMs: PROBE_EVERY_MS };
  const { latencies, failures } = await openLoopLatencies(client, normalRequest(), schedule);
  clearInterval(sampler);
  if (failures > 0) throw new Error(`${failures} normal calls failed`);
  const histogram = new Histogram();
  for (const ms of latencies) histogram.record(ms * 1000);
  const max = Math.max(...latencies);
  return {
    p50: histogram.quantileMs(0.5),
    p99: histogram.quantileMs(0.99),
    max,
    calls: histogram.count,
    rssPeak,
  };
}

/** The normal call and the RSS while hostile messages of `descriptors` (0: none) are in flight. */
async function run(
  server: { port: number; pid: number; client: RawClient },
  variant: { label: string; descriptors: number },
): Promise<HostileRun> {
  const rssBefore = rssMiB(server.pid);
  const probed = () => probe(server.client, server.pid, ATTACK_MS - 2 * SETTLE_MS);
  if (variant.descriptors === 0) return { label: variant.label, ...(await probed()), rssBefore, answers: {} };
  const attacker = spawnChild("../test/harness/hostile-sender.js", {
    args: [String(server.port), DOMAIN, String(variant.descriptors), String(ATTACK_MS)],
  });
  try {
    const done = attacker.next("done", { timeoutMs: ATTACK_MS + 60_000 });
    await sleep(SETTLE_MS);
    const measured = await probed();
    const answers = (await done).answers as Record<string, number>;
    return { label: variant.label, ...measured, rssBefore, answers };
  } finally {
    await attacker.stop();
  }
}

const size = (descriptors: number) => emptyDescriptors(DOMAIN, descriptors).length.toLocaleString("en-US");
const VARIANTS = [
  { label: "No attack", descriptors: 0 },
  {
    label: `${HOSTILE_IN_FLIGHT} × ${size(500_000)}-byte messages (500,000 empty descriptors) in flight`,
    descriptors: 500_000,
  },
  {
    label: `${HOSTILE_IN_FLIGHT} × ${size(260_000)}-byte messages (260,000 empty descriptors, just under the cap) in flight`,
    descriptors: 260_000,
  },
];

async function measure(): Promise<void> {
  const rulesDir = await mkdtemp(join(tmpdir(), "fg-hostile-"));
  await writeFile(join(rulesDir, "bench.yaml"), RULES_YAML);
  const server = spawnChild("server-floodgate.js", { args: [JSON.stringify({ RULES_PATH: rulesDir })] });
  try {
    const port = (await server.next("ready", { timeoutMs: 30_000 })).grpcPort as number;
    const client = rawClient(port);
    // Warm up the JIT, the connection and the bucket.
    for (let i = 0; i < 2000; i++) await send(client, normalRequest());
    const runs: HostileRun[] = [];
    for (const variant of VARIANTS) {
      runs.push(await run({ port, pid: server.pid, client }, variant));
      process.stdout.write(`${describeRun(runs.at(-1)!)}\n`);
    }
    client.close();
    process.stdout.write(`result ${JSON.stringify(runs)}\n`);
  } finally {
    await server.stop();
    await rm(rulesDir, { recursive: true, force: true });
  }
}

await measure();
