/**
 * All-or-nothing across Redis Cluster slots (docs/redis-topologies.md).
 *
 * A script may only touch keys of one slot, and the buckets of one request can span several (the
 * hash tag is the domain plus the first descriptor entry, so per-user and per-endpoint buckets
 * usually differ). So the checks are grouped by slot and each group is charged by its own
 * token-bucket.lua call, all in parallel. If every group allows, the request is allowed. If any
 * group denies, every group that was charged (allowed, so written) gets its tokens back through
 * refund.lua, and the request is denied: no bucket keeps a charge for a denied request.
 *
 * The race, accepted on purpose: between a charge and its refund (one round trip), another request
 * on the same bucket sees the tokens missing and may be denied although, had this request never
 * been charged, it would have passed. That is a brief over-deny, never an over-allow: the refund
 * is clamped to the capacity and a missing bucket is never recreated.
 * Failures: when a group fails (timeout, connection...) the charged groups are refunded best
 * effort and the error is rethrown (the caller falls back). A group that timed out may still have
 * run on the server; it cannot be refunded since its outcome is unknown: again over-deny only.
 *
 * This module holds no Redis client: the store passes `charge` and `refund`, so the merging rules
 * are unit tested with plain functions.
 */
import calculateSlot from "cluster-key-slot";
import type { BucketOutcome, BucketSpec, KeyedCheck } from "../../domain/bucket.js";
import type { StoreDecision } from "../bucket-store.js";

export interface SlotGroup {
  readonly slot: number;
  /** Positions of this group's checks in the request, in request order. */
  readonly indexes: readonly number[];
  readonly checks: readonly KeyedCheck[];
}

/** One bucket to give tokens back to; each key at most once per refund call. */
export interface RefundEntry {
  readonly key: string;
  readonly spec: BucketSpec;
  readonly amount: number;
}

export interface RefundResult {
  readonly remaining: number;
  readonly resetMs: number;
}

export interface CrossSlotDeps {
  /** One token-bucket.lua call for the checks of one slot. */
  charge(checks: readonly KeyedCheck[]): Promise<StoreDecision>;
  /** One refund.lua call for the entries of one slot; results in entry order. */
  refund(entries: readonly RefundEntry[]): Promise<readonly RefundResult[]>;
  /** A refund failed: those tokens stay taken until they refill (over-deny). */
  onRefundError?(error: unknown): void;
}

/** Groups checks by the Cluster slot of their key (prefix included), in order of first appearance. */
export function groupBySlot(checks: readonly KeyedCheck[]): SlotGroup[] {
  const bySlot = new Map<number, { slot: number; indexes: number[]; checks: KeyedCheck[] }>();
  checks.forEach((check, index) => {
    const slot = calculateSlot(check.key);
    let group = bySlot.get(slot);
    if (group === undefined) {
      group = { slot, indexes: [], checks: [] };
      bySlot.set(slot, group);
    }
    group.indexes.push(index);
    group.checks.push(check);
  });
  return [...bySlot.values()];
}

/**
 * What the charge of an allowed group took, per key: the costs of its sufficient checks (exactly
 * what token-bucket.lua subtracts). A key seen with several specs is clamped to the smallest
 * capacity, as the script clamps its running state to each check's capacity.
 */
export function refundEntries(
  checks: readonly KeyedCheck[],
  outcomes: readonly BucketOutcome[],
): RefundEntry[] {
  const byKey = new Map<string, { key: string; spec: BucketSpec; amount: number }>();
  checks.forEach((check, i) => {
    const taken = outcomes[i]?.sufficient === true ? check.cost : 0;
    const entry = byKey.get(check.key);
    if (entry === undefined) {
      byKey.set(check.key, { key: check.key, spec: check.spec, amount: taken });
      return;
    }
    entry.amount += taken;
    if (check.spec.capacity < entry.spec.capacity) entry.spec = check.spec;
  });
  return [...byKey.values()].filter((entry) => entry.amount > 0);
}

/** The group's outcomes with refunded buckets reporting what they hold after the refund. */
async function refundGroup(
  deps: CrossSlotDeps,
  group: SlotGroup,
  decision: StoreDecision,
): Promise<readonly BucketOutcome[]> {
  const entries = refundEntries(group.checks, decision.outcomes);
  if (entries.length === 0) return decision.outcomes;
  try {
    const results = await deps.refund(entries);
    const after = new Map(entries.map((entry, i) => [entry.key, results[i]] as const));
    return decision.outcomes.map((outcome, i) => {
      const result = after.get(group.checks[i]!.key);
      return result === undefined
        ? outcome
        : { ...outcome, remaining: result.remaining, resetMs: result.resetMs };
    });
  } catch (error) {
    deps.onRefundError?.(error);
    return decision.outcomes;
  }
}

function merge(
  groups: readonly SlotGroup[],
  outcomes: readonly (readonly BucketOutcome[])[],
): BucketOutcome[] {
  const total = groups.reduce((n, group) => n + group.indexes.length, 0);
  const merged = new Array<BucketOutcome>(total);
  groups.forEach((group, g) => group.indexes.forEach((index, i) => (merged[index] = outcomes[g]![i]!)));
  return merged;
}

/** Undoes one group of a request that is not allowed: refund if charged; a failed group took nothing known. */
async function undo(
  deps: CrossSlotDeps,
  group: SlotGroup,
  decision: StoreDecision | undefined,
): Promise<readonly BucketOutcome[]> {
  if (decision === undefined) return [];
  return decision.allowed ? refundGroup(deps, group, decision) : decision.outcomes;
}

/** Charges every slot in parallel; refunds the charged ones unless all allowed (see the header). */
export async function evaluateAcrossSlots(
  deps: CrossSlotDeps,
  groups: readonly SlotGroup[],
): Promise<StoreDecision> {
  const settled = await Promise.allSettled(groups.map((group) => deps.charge(group.checks)));
  const failed = settled.find((result) => result.status === "rejected");
  const decisions = settled.map((result) => (result.status === "fulfilled" ? result.value : undefined));
  if (failed === undefined && decisions.every((decision) => decision?.allowed === true)) {
    const outcomes = decisions.map((decision) => decision!.outcomes);
    return { allowed: true, outcomes: merge(groups, outcomes), source: "redis" };
  }
  const outcomes = await Promise.all(groups.map((group, g) => undo(deps, group, decisions[g])));
  if (failed !== undefined) throw failed.reason;
  return { allowed: false, outcomes: merge(groups, outcomes), source: "redis" };
}
