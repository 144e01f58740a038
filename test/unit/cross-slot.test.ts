/**
 * The cross-slot rules of the Cluster store (src/store/redis/cross-slot.ts) with plain functions
 * for `charge` and `refund`: grouping by slot, what a refund gives back, how outcomes merge, and
 * what happens when a slot or a refund fails. The real thing runs in
 * test/integration/redis-cluster.test.ts.
 */
import calculateSlot from "cluster-key-slot";
import { describe, expect, it } from "vitest";
import type { BucketOutcome, KeyedCheck } from "../../src/domain/bucket.js";
import type { StoreDecision } from "../../src/store/bucket-store.js";
import type { CrossSlotDeps, RefundEntry, RefundResult } from "../../src/store/redis/cross-slot.js";
import { evaluateAcrossSlots, groupBySlot, refundEntries } from "../../src/store/redis/cross-slot.js";
import { buildRefundArgs, parseRefundReply } from "../../src/store/redis/redis-store.js";

function check(key: string, options: Partial<Omit<KeyedCheck, "key">> = {}): KeyedCheck {
  return {
    key,
    spec: { capacity: 10, refillTokens: 10, refillPeriodUs: 60e6 },
    cost: 1,
    shadow: false,
    ...options,
  };
}

function outcome(sufficient: boolean, remaining: number): BucketOutcome {
  return { sufficient, remaining, resetMs: sufficient ? 100 : 0, retryMs: sufficient ? 0 : 500 };
}

/** A fake Redis: each key holds `tokens`; a group allows iff every check has its cost. */
function fakeDeps(tokens: Record<string, number>, failing: readonly string[] = []) {
  const refunds: RefundEntry[][] = [];
  const charges: string[][] = [];
  const refundErrors: unknown[] = [];
  const deps: CrossSlotDeps = {
    charge: (checks) => {
      charges.push(checks.map((c) => c.key));
      if (checks.some((c) => failing.includes(c.key))) return Promise.reject(new Error("Command timed out"));
      const outcomes = checks.map((c) =>
        outcome((tokens[c.key] ?? 0) >= c.cost, (tokens[c.key] ?? 0) - c.cost),
      );
      const allowed = outcomes.every((o) => o.sufficient);
      return Promise.resolve<StoreDecision>({ allowed, outcomes, source: "redis" });
    },
    refund: (entries) => {
      refunds.push([...entries]);
      return Promise.resolve(
        entries.map<RefundResult>((e) => ({ remaining: tokens[e.key] ?? 0, resetMs: 0 })),
      );
    },
    onRefundError: (error) => refundErrors.push(error),
  };
  return { deps, refunds, charges, refundErrors };
}

describe("groupBySlot", () => {
  it("groups checks by the slot of their full key, in order of first appearance", () => {
    const checks = [check("p:{a}|x"), check("p:{b}|x"), check("p:{a}|y"), check("p:plain")];
    const groups = groupBySlot(checks);
    expect(groups.map((g) => g.indexes)).toEqual([[0, 2], [1], [3]]);
    expect(groups[0]!.slot).toBe(calculateSlot("a"));
    expect(groups[2]!.slot).toBe(calculateSlot("p:plain"));
  });

  it("puts every key in one slot when the prefix holds a hash tag", () => {
    expect(groupBySlot([check("fg:{one}:{a}"), check("fg:{one}:{b}"), check("fg:{one}:c")])).toHaveLength(1);
  });
});

describe("refundEntries", () => {
  it("gives back per key the costs that were taken: sufficient checks only, never cost 0", () => {
    const checks = [
      check("k", { cost: 2 }),
      check("k", { cost: 3, spec: { capacity: 4, refillTokens: 1, refillPeriodUs: 1e6 } }),
      check("shadow", { shadow: true }),
      check("free", { cost: 0 }),
    ];
    const entries = refundEntries(checks, [
      outcome(true, 8),
      outcome(true, 3),
      outcome(false, 0),
      outcome(true, 5),
    ]);
    expect(entries).toEqual([
      { key: "k", amount: 5, spec: { capacity: 4, refillTokens: 1, refillPeriodUs: 1e6 } },
    ]);
  });

  it("lays out refund.lua's KEYS and ARGV and parses its reply", () => {
    const spec = { capacity: 5, refillTokens: 2, refillPeriodUs: 1e6 };
    const args = buildRefundArgs([
      { key: "p:{a}", spec, amount: 1 },
      { key: "p:{a}|b", spec, amount: 3 },
    ]);
    expect(args).toEqual(["p:{a}", "p:{a}|b", 5, 2, 1e6, 1, 5, 2, 1e6, 3]);
    expect(parseRefundReply([4, 0, 2, 1500], 2)).toEqual([
      { remaining: 4, resetMs: 0 },
      { remaining: 2, resetMs: 1500 },
    ]);
    expect(() => parseRefundReply([4, 0, 2], 2)).toThrow(/malformed/);
    expect(() => parseRefundReply(["4", 0], 1)).toThrow(/malformed/);
  });
});

describe("evaluateAcrossSlots", () => {
  const checks = [check("{a}"), check("{b}"), check("{a}|pair"), check("{c}")];
  const groups = groupBySlot(checks);

  it("allows when every slot allows, with outcomes in request order and no refund", async () => {
    const fake = fakeDeps({ "{a}": 5, "{b}": 6, "{a}|pair": 7, "{c}": 8 });
    const decision = await evaluateAcrossSlots(fake.deps, groups);
    expect(decision.allowed).toBe(true);
    expect(decision.outcomes.map((o) => o.remaining)).toEqual([4, 5, 6, 7]);
    expect(fake.charges).toEqual([["{a}", "{a}|pair"], ["{b}"], ["{c}"]]);
    expect(fake.refunds).toEqual([]);
  });

  it("refunds every charged slot when one denies, reporting what the buckets hold afterwards", async () => {
    const fake = fakeDeps({ "{a}": 5, "{b}": 0, "{a}|pair": 7, "{c}": 8 });
    const decision = await evaluateAcrossSlots(fake.deps, groups);
    expect(decision.allowed).toBe(false);
    expect(fake.refunds.map((entries) => entries.map((e) => [e.key, e.amount]))).toEqual([
      [
        ["{a}", 1],
        ["{a}|pair", 1],
      ],
      [["{c}", 1]],
    ]);
    expect(decision.outcomes.map((o) => [o.sufficient, o.remaining])).toEqual([
      [true, 5],
      [false, -1],
      [true, 7],
      [true, 8],
    ]);
  });

  it("refunds the charged slots and rethrows when a slot fails", async () => {
    const fake = fakeDeps({ "{a}": 5, "{b}": 5, "{a}|pair": 5, "{c}": 5 }, ["{b}"]);
    await expect(evaluateAcrossSlots(fake.deps, groups)).rejects.toThrow("Command timed out");
    expect(fake.refunds.map((entries) => entries.map((e) => e.key))).toEqual([["{a}", "{a}|pair"], ["{c}"]]);
  });

  it("still denies when a refund fails, reporting the failure and the charged outcomes", async () => {
    const fake = fakeDeps({ "{a}": 5, "{b}": 0, "{a}|pair": 7, "{c}": 8 });
    const deps: CrossSlotDeps = {
      ...fake.deps,
      refund: () => Promise.reject(new Error("Connection is closed.")),
    };
    const decision = await evaluateAcrossSlots(deps, groups);
    expect(decision.allowed).toBe(false);
    expect(decision.outcomes.map((o) => o.remaining)).toEqual([4, -1, 6, 7]);
    expect(fake.refundErrors).toHaveLength(2);
  });
});
