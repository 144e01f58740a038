import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { RuleSet } from "../../src/domain/rules.js";
import type { ReloadAudit } from "../../src/admin/rules-audit.js";
import { createReloadAudit } from "../../src/admin/rules-audit.js";
import { createMetrics } from "../../src/observability/metrics.js";

/**
 * The pending rules-load rows (docs/audit-log.md, "Rules reloads"), against a fake audit store a
 * test can take down.
 */
const rules = (digest: string): RuleSet => ({ domains: new Map(), digest, ruleCount: 0 });

function harness(options: { maxPending?: number } = {}) {
  const written: { digest: string; summary: Record<string, unknown> }[] = [];
  const logs: Record<string, unknown>[] = [];
  const metrics = createMetrics();
  const state = { down: true, attempts: 0 };
  const audit = createReloadAudit({
    auditLog: {
      recordRulesReload: (row) => {
        state.attempts += 1;
        if (state.down) return Promise.reject(new Error("connect ECONNREFUSED"));
        written.push(row as (typeof written)[number]);
        return Promise.resolve(true);
      },
    },
    logger: pino({ level: "info" }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
    metrics,
    retry: { minMs: 5, maxMs: 20 },
    ...options,
  });
  const gauge = async () => (await metrics.auditPending.get()).values[0]?.value;
  const unrecorded = async (reason: string) =>
    (await metrics.auditUnrecorded.get()).values.find((v) => v.labels.reason === reason)?.value;
  return { audit, written, logs, state, gauge, unrecorded };
}

async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function load(audit: ReloadAudit, from: string | undefined, to: string): void {
  audit.record({ previous: from === undefined ? undefined : rules(from), next: rules(to) });
}

describe("rules-load audit rows", () => {
  it("keeps them in order while the database is down, retries, and writes each once when it is back", async () => {
    const h = harness();
    load(h.audit, undefined, "a");
    load(h.audit, "a", "b");
    await until(() => h.state.attempts >= 3);
    expect(h.audit.pending).toBe(2);
    expect(await h.gauge()).toBe(2);
    expect(h.logs.some((l) => l.level === 40 && String(l.msg).includes("not written yet"))).toBe(true);
    h.state.down = false;
    await until(() => h.audit.pending === 0);
    expect(h.written.map((w) => w.digest)).toEqual(["a", "b"]);
    expect(h.written[1]!.summary).toMatchObject({ digest: "b", effective_at: expect.any(String) });
    expect(await h.gauge()).toBe(0);
    expect(h.logs.some((l) => l.msg === "pending audit rows written")).toBe(true);
    await h.audit.close();
  });

  it("at the bound, merges a load into the newest pending row and counts it", async () => {
    const h = harness({ maxPending: 2 });
    load(h.audit, undefined, "a");
    load(h.audit, "a", "b");
    load(h.audit, "b", "c");
    expect(h.audit.pending).toBe(2);
    expect(await h.unrecorded("merged")).toBe(1);
    expect(h.logs.some((l) => l.level === 50 && l.skipped === "b" && l.digest === "c")).toBe(true);
    h.state.down = false;
    await until(() => h.audit.pending === 0);
    expect(h.written.map((w) => w.digest)).toEqual(["a", "c"]);
    expect(h.written[1]!.summary).toMatchObject({ digest: "c", merged_loads: 1 });
    await h.audit.close();
  });

  it("on close, tries once more, then counts and logs what could not be written", async () => {
    const h = harness();
    load(h.audit, undefined, "a");
    await until(() => h.state.attempts >= 1);
    const before = h.state.attempts;
    await h.audit.close();
    expect(h.state.attempts).toBeGreaterThan(before);
    expect(await h.unrecorded("shutdown")).toBe(1);
    expect(h.logs.find((l) => l.level === 50)).toMatchObject({ unwritten: ["a"] });
    expect(h.audit.pending).toBe(0);
    load(h.audit, "a", "b"); // after close: ignored
    expect(h.audit.pending).toBe(0);
  });

  it("on close with the database back, writes what was pending", async () => {
    const h = harness();
    load(h.audit, undefined, "a");
    await until(() => h.state.attempts >= 1);
    h.state.down = false;
    await h.audit.close();
    expect(h.written.map((w) => w.digest)).toEqual(["a"]);
    expect(await h.unrecorded("shutdown")).toBe(0);
  });
});
