import { describe, expect, it } from "vitest";
import { OverrideTable } from "../../src/admin/override-table.js";
import type { DescriptorEntry } from "../../src/domain/rules.js";

const T0 = Date.UTC(2026, 10, 29);

function record(domain: string, entries: [string, string][], requestsPerUnit: number, expiresAtMs?: number) {
  return {
    id: String(requestsPerUnit),
    domain,
    entries: entries.map(([key, value]): DescriptorEntry => ({ key, value })),
    limit: { requestsPerUnit, unit: "minute" as const, burst: requestsPerUnit * 2 },
    expiresAt: expiresAtMs === undefined ? undefined : new Date(expiresAtMs),
    reason: "r",
    createdBy: "ops",
    createdAt: new Date(T0),
    updatedAt: new Date(T0),
  };
}

const e = (...pairs: [string, string][]): DescriptorEntry[] => pairs.map(([key, value]) => ({ key, value }));

describe("the operator override table", () => {
  it("finds an override for exactly its descriptor, as an unnamed limit", () => {
    const table = new OverrideTable();
    table.replace([record("svc", [["user", "a"]], 5)]);
    expect(table.lookup("svc", e(["user", "a"]), T0)).toEqual({
      name: undefined,
      unit: "minute",
      requestsPerUnit: 5,
      burst: 10,
      unlimited: false,
      replaces: [],
    });
    expect(table.lookup("svc", e(["user", "b"]), T0)).toBeUndefined();
    expect(table.lookup("svc", e(["user", "a"], ["path", "/"]), T0)).toBeUndefined();
    expect(table.lookup("other", e(["user", "a"]), T0)).toBeUndefined();
  });

  it("keeps descriptors apart whatever characters their keys and values hold", () => {
    const table = new OverrideTable();
    table.replace([
      record("svc", [["a", "b,c"]], 1),
      record(
        "svc",
        [
          ["a", "b"],
          ["c", ""],
        ],
        2,
      ),
    ]);
    expect(table.lookup("svc", e(["a", "b,c"]), T0)?.requestsPerUnit).toBe(1);
    expect(table.lookup("svc", e(["a", "b"], ["c", ""]), T0)?.requestsPerUnit).toBe(2);
    expect(table.lookup("svc", e(["a", "b"]), T0)).toBeUndefined();
  });

  it("stops applying an override at its expiry, to the millisecond", () => {
    const table = new OverrideTable();
    table.replace([record("svc", [["user", "a"]], 5, T0 + 1000)]);
    expect(table.lookup("svc", e(["user", "a"]), T0 + 999)).toBeDefined();
    expect(table.lookup("svc", e(["user", "a"]), T0 + 1000)).toBeUndefined();
  });

  it("replaces the whole table, and changes single entries in place", () => {
    const table = new OverrideTable();
    table.replace([record("svc", [["user", "a"]], 5), record("svc", [["user", "b"]], 6)]);
    expect(table.size).toBe(2);
    table.upsert(record("svc", [["user", "a"]], 7));
    expect(table.lookup("svc", e(["user", "a"]), T0)?.requestsPerUnit).toBe(7);
    table.remove("svc", e(["user", "b"]));
    expect(table.lookup("svc", e(["user", "b"]), T0)).toBeUndefined();
    expect(table.size).toBe(1);
    table.replace([record("x", [["k", "v"]], 1)]);
    expect(table.lookup("svc", e(["user", "a"]), T0)).toBeUndefined();
    expect(table.size).toBe(1);
  });

  it("says whether a domain has any override (the hot path's cheap test)", () => {
    const table = new OverrideTable();
    expect(table.hasDomain("svc")).toBe(false);
    table.upsert(record("svc", [["user", "a"]], 5));
    expect(table.hasDomain("svc")).toBe(true);
    table.remove("svc", e(["user", "a"]));
    expect(table.hasDomain("svc")).toBe(false);
  });
});
