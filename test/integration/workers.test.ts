import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FloodgateProcess } from "../harness/floodgate-process.js";
import { startFloodgateProcess } from "../harness/floodgate-process.js";
import type { ProtoResponse } from "./support/floodgate.js";
import { call, OK, rlsRequest } from "./support/floodgate.js";

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

  it("serves from two worker processes and drains them all on SIGTERM, exiting 0", async () => {
    const deadline = Date.now() + 10_000;
    const started = () =>
      new Set(proc.logs.filter((l) => l["msg"] === "floodgate started").map((l) => l["pid"]));
    while (started().size < 2) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
    const res = await call<ProtoResponse>(proc.rls, "ShouldRateLimit", rlsRequest("d", [[["k", "v"]]]));
    expect(res.overall_code).toBe(OK);
    expect((await fetch(`${proc.httpUrl}/healthz`)).status).toBe(200);
    await proc.stop(10_000); // throws unless the primary exits 0
    const stopped = new Set(proc.logs.filter((l) => l["msg"] === "floodgate stopped").map((l) => l["pid"]));
    expect(stopped).toEqual(started());
  });
});
