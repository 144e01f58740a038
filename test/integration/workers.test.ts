import type { ServiceClientConstructor } from "@grpc/grpc-js";
import { credentials } from "@grpc/grpc-js";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FloodgateProcess } from "../harness/floodgate-process.js";
import { startFloodgateProcess } from "../harness/floodgate-process.js";
import { grpcObject } from "../../src/transport/grpc/proto.js";
import type { ProtoResponse, UnaryClient } from "./support/floodgate.js";
import { call, OK, rlsRequest } from "./support/floodgate.js";

/** A client on a connection of its own, so that the cluster hands it to a worker of its own. */
function ownConnection(address: string): UnaryClient {
  const root = grpcObject() as unknown as {
    envoy: { service: { ratelimit: { v3: { RateLimitService: ServiceClientConstructor } } } };
  };
  const RLS = root.envoy.service.ratelimit.v3.RateLimitService;
  const client = new RLS(address, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  return client as unknown as UnaryClient;
}

/** /metrics over a new connection each time (no keep-alive), so scrapes land on either worker. */
function scrape(httpUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(`${httpUrl}/metrics`, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${res.statusCode}`))));
    }).on("error", reject);
  });
}

function decisionsOf(text: string, domain: string): number {
  return text
    .split("\n")
    .filter((line) => line.startsWith("floodgate_decisions_total{") && line.includes(`domain="${domain}"`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

describe("WORKERS=2 (Node cluster on one port)", () => {
  let dir: string;
  let proc: FloodgateProcess;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "fg-workers-"));
    await writeFile(
      join(dir, "r.yaml"),
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit: { unit: minute, requests_per_unit: 100 }\n",
    );
    proc = await startFloodgateProcess({ rulesPath: dir, env: { WORKERS: "2" } });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const started = () =>
    new Set(proc.logs.filter((l) => l["msg"] === "floodgate started").map((l) => l["pid"]));
  async function bothWorkersStarted(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (started().size < 2) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it("reports every worker's decisions on /metrics, whichever worker answers", async () => {
    await bothWorkersStarted();
    const clients = Array.from({ length: 4 }, () => ownConnection(proc.grpcAddress));
    try {
      for (let i = 0; i < 20; i++) {
        const client = clients[i % clients.length]!;
        await call<ProtoResponse>(client, "ShouldRateLimit", rlsRequest("m", [[["k", `v${i}`]]]));
      }
    } finally {
      for (const client of clients) (client as unknown as { close(): void }).close();
    }
    // Four connections went round-robin to two workers, and so do these scrapes: without the
    // aggregation a scrape would count only its own worker's share.
    for (let i = 0; i < 6; i++) {
      const text = await scrape(proc.httpUrl);
      expect(decisionsOf(text, "unknown") + decisionsOf(text, "m")).toBe(20);
      expect(text).toMatch(/^floodgate_store_fallback_active 0$/m);
    }
  });

  it("aggregates the default process and Node.js metrics under their standard names, once each", async () => {
    await bothWorkersStarted();
    for (let i = 0; i < 4; i++) {
      const text = await scrape(proc.httpUrl);
      const families = [...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]!);
      expect(new Set(families).size).toBe(families.length);
      expect(families).toContain("process_cpu_seconds_total");
      expect(families).toContain("nodejs_eventloop_lag_p99_seconds");
      expect(families.filter((name) => /^floodgate_(process|nodejs)_/.test(name))).toEqual([]);
      // Summed over the workers into one unlabelled series, not one per worker.
      expect(text.match(/^process_cpu_seconds_total /gm)).toHaveLength(1);
    }
  });

  it("serves from two worker processes and drains them all on SIGTERM, exiting 0", async () => {
    await bothWorkersStarted();
    const res = await call<ProtoResponse>(proc.rls, "ShouldRateLimit", rlsRequest("d", [[["k", "v"]]]));
    expect(res.overall_code).toBe(OK);
    expect((await fetch(`${proc.httpUrl}/healthz`)).status).toBe(200);
    await proc.stop(10_000); // throws unless the primary exits 0
    const stopped = new Set(proc.logs.filter((l) => l["msg"] === "floodgate stopped").map((l) => l["pid"]));
    expect(stopped).toEqual(started());
  });
});
