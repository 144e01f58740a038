import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { heapResultOf } from "../../bench/report.js";
import { track } from "../harness/processes.js";

/**
 * Bucket memory bounded in bytes, not only in count (docs/security.md, threat 7). Descriptor
 * values of 1 KB made of `{` (escaping triples them) cost ~6 KB per in-memory bucket and per
 * Redis key before keys were bounded; the target is ≤ 300 B of heap per bucket and ≤ 200 bytes
 * per key.
 *
 * Measured by bench/local-heap.ts (as `make bench` does, built by `make test`) in a process of
 * its own: it needs --expose-gc, and a heap apart from the test runner's. Memory, not time: the
 * figure does not depend on the machine's load.
 */
const SCRIPT = join(import.meta.dirname, "../../dist/bench/local-heap.js");
/** Enough to amortize the store's fixed cost (~200 B per bucket at 20,000, ~160 at 1,000,000). */
const BUCKETS = 20_000;

function measure(buckets: number): Promise<string> {
  if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} is missing: run npx tsc -p tsconfig.build.json first`);
  const args = ["--expose-gc", SCRIPT, String(buckets), "hostile"];
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`local-heap failed: ${err.message}\n${stderr}`)) : resolve(stdout.trim()),
    );
    track(child);
  });
}

describe("buckets of hostile keys", () => {
  it("cost at most 300 B of heap each in the local store, with keys of at most 200 bytes", async () => {
    const line = await measure(BUCKETS);
    const result = heapResultOf(line, BUCKETS);
    expect(result, line).toBeDefined();
    expect(result!.bytesPerBucket, line).toBeLessThanOrEqual(300);
    expect(result!.keyBytes, line).toBeLessThanOrEqual(200);
  }, 60_000);
});
