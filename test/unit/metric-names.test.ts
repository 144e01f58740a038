import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/metrics.js";

/** Family names declared by `# TYPE` lines. */
function families(text: string): string[] {
  return [...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]!);
}

describe("metric names (README, Observability)", () => {
  it("exports the default process and Node.js metrics under their standard names", async () => {
    const names = families(await createMetrics().registry.metrics());
    expect(names).toContain("process_cpu_seconds_total");
    expect(names).toContain("process_resident_memory_bytes");
    expect(names).toContain("nodejs_eventloop_lag_seconds");
    expect(names).toContain("nodejs_eventloop_lag_p99_seconds");
    expect(names.filter((name) => /^floodgate_(process|nodejs)_/.test(name))).toEqual([]);
  });

  it("keeps the floodgate_ prefix for Floodgate's own metrics, and only for them", async () => {
    const names = families(await createMetrics().registry.metrics());
    const other = names.filter((name) => !/^(floodgate|process|nodejs)_/.test(name));
    expect(other).toEqual([]);
    expect(names).toContain("floodgate_decisions_total");
    expect(names.filter((name) => name.startsWith("floodgate_")).length).toBeGreaterThanOrEqual(20);
  });
});
