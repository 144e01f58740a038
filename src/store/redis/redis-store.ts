/**
 * The Redis BucketStore. On a single node or behind Sentinel every evaluation is one EVALSHA of
 * token-bucket.lua (one round trip, atomic on the server, clock = Redis TIME). On NOSCRIPT (a
 * restarted or flushed server) the same call is sent once as EVAL, which also puts the script back
 * in the server's cache.
 *
 * On Redis Cluster the checks are grouped by slot: one script call per slot, in parallel, with a
 * refund of the charged slots when another slot denies (cross-slot.ts explains the trade-off).
 * A request whose buckets share one slot is still exactly one call.
 *
 * Every error leaves as a StoreError (classifyRedisError): callers read `transient` and `kind`.
 *
 * Keys are keys.ts's under the store's own prefix (REDIS_KEY_PREFIX). evaluate() builds them
 * whole; evaluateKeyed() is handed them without the prefix (keyed-store.ts) and puts it in front.
 * Either way the full keys are made once per call, before anything else, so that the slot grouping
 * (a prefix may hold the hash tag itself), the scripts and the refunds all see the same full keys.
 *
 * ioredis' defineCommand would do the same, but it sends the first call of every connection as a
 * full EVAL and needs an untyped property on the client; doing it here keeps the types and makes
 * "one EVALSHA per evaluate()" literally true.
 */
import type { Redis } from "ioredis";
import type { BucketOutcome, KeyedCheck } from "../../domain/bucket.js";
import type { BucketSnapshot, StoreDecision } from "../bucket-store.js";
import type { KeyedBucketStore } from "../keyed-store.js";
import { bucketKey, keyedChecks } from "../keys.js";
import type { CrossSlotDeps, RefundEntry, RefundResult } from "./cross-slot.js";
import { evaluateAcrossSlots, groupBySlot } from "./cross-slot.js";
import { withDeadline } from "./deadline.js";
import { classifyRedisError } from "./errors.js";
import type { StoreError } from "./errors.js";
import { REFUND_LUA, REFUND_SHA, TOKEN_BUCKET_LUA, TOKEN_BUCKET_SHA } from "./script.js";

/**
 * The few client methods the store uses; a Redis and a Cluster both fit.
 * `isCluster` picks the per-slot path: Redis enforces slots only in Cluster mode.
 */
export type RedisStoreClient = Pick<
  Redis,
  "evalsha" | "eval" | "hmget" | "del" | "quit" | "disconnect" | "isCluster"
>;

export interface RedisStoreOptions {
  readonly client: RedisStoreClient;
  /** Prepended to every bucket key, before its hash tag (REDIS_KEY_PREFIX). Default "". */
  readonly keyPrefix?: string;
  /** close() also quits the client. Default true; pass false when the client is shared. */
  readonly closeClient?: boolean;
  /** A Cluster refund failed (its tokens stay taken until they refill): for a log line or a metric. */
  readonly onRefundError?: (error: StoreError) => void;
  /**
   * The decision deadline (REDIS_TIMEOUT_MS), see deadline.ts. The client's own commandTimeout
   * then only backstops commands that never come back.
   */
  readonly deadlineMs?: number;
}

interface LuaScript {
  readonly sha: string;
  readonly lua: string;
}

const TOKEN_BUCKET: LuaScript = { sha: TOKEN_BUCKET_SHA, lua: TOKEN_BUCKET_LUA };
const REFUND: LuaScript = { sha: REFUND_SHA, lua: REFUND_LUA };

const ARGS_PER_CHECK = 5;
const REPLY_PER_CHECK = 4;
const NO_CHECKS: StoreDecision = Object.freeze({ allowed: true, outcomes: [], source: "redis" });

/** KEYS then ARGV, laid out as the script header says. */
export function buildScriptArgs(checks: readonly KeyedCheck[]): (string | number)[] {
  const n = checks.length;
  const args = new Array<string | number>(n * (1 + ARGS_PER_CHECK));
  for (let i = 0; i < n; i++) {
    const { key, spec, cost, shadow } = checks[i]!;
    args[i] = key;
    const a = n + i * ARGS_PER_CHECK;
    args[a] = spec.capacity;
    args[a + 1] = spec.refillTokens;
    args[a + 2] = spec.refillPeriodUs;
    args[a + 3] = cost;
    args[a + 4] = shadow ? "1" : "0";
  }
  return args;
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("NOSCRIPT");
}

/** KEYS then ARGV for refund.lua, laid out as its header says. */
export function buildRefundArgs(entries: readonly RefundEntry[]): (string | number)[] {
  const keys = entries.map((entry) => entry.key);
  const argv = entries.flatMap(({ spec, amount }) => [
    spec.capacity,
    spec.refillTokens,
    spec.refillPeriodUs,
    amount,
  ]);
  return [...keys, ...argv];
}

/** Plain promise chains, not async functions: this is every decision's path (fewer promises). */
function runScript(
  client: RedisStoreClient,
  script: LuaScript,
  call: { numKeys: number; args: (string | number)[] },
): Promise<unknown> {
  return client.evalsha(script.sha, call.numKeys, ...call.args).catch((error: unknown) => {
    if (!isNoScript(error)) throw error;
    return client.eval(script.lua, call.numKeys, ...call.args);
  });
}

/** Turns the script's flat integer reply into a decision, refusing anything malformed. */
export function parseReply(reply: unknown, numChecks: number): StoreDecision {
  if (!Array.isArray(reply) || reply.length !== 1 + REPLY_PER_CHECK * numChecks) {
    throw new Error("token-bucket script: malformed reply");
  }
  const values = reply as unknown[];
  for (const value of values) {
    if (typeof value !== "number") throw new Error("token-bucket script: malformed reply");
  }
  const ints = values as number[];
  const outcomes = new Array<BucketOutcome>(numChecks);
  for (let i = 0; i < numChecks; i++) {
    const o = 1 + REPLY_PER_CHECK * i;
    outcomes[i] = {
      sufficient: ints[o] === 1,
      remaining: ints[o + 1]!,
      resetMs: ints[o + 2]!,
      retryMs: ints[o + 3]!,
    };
  }
  return { allowed: ints[0] === 1, outcomes, source: "redis" };
}

/** refund.lua's reply: [remaining, resetMs] per entry. */
export function parseRefundReply(reply: unknown, numEntries: number): RefundResult[] {
  if (
    !Array.isArray(reply) ||
    reply.length !== 2 * numEntries ||
    !reply.every((v) => typeof v === "number")
  ) {
    throw new Error("refund script: malformed reply");
  }
  return Array.from({ length: numEntries }, (_, i) => ({
    remaining: reply[2 * i]!,
    resetMs: reply[2 * i + 1]!,
  }));
}

/** The hash's fields: `t` tokens, `u` the Redis TIME of the last write in µs (token-bucket.lua). */
function parseSnapshot(fields: (string | null)[]): BucketSnapshot | undefined {
  const [tokens, updatedAtUs] = fields;
  if (tokens == null || updatedAtUs == null) return undefined;
  return { tokens: Number(tokens), updatedAtMs: Number(updatedAtUs) / 1000 };
}

const rethrowClassified = (error: unknown): never => {
  throw classifyRedisError(error);
};

/** Runs `operation`, turning a synchronous throw into a rejection with a classified StoreError. */
function guarded<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return operation();
  } catch (error) {
    return Promise.reject(classifyRedisError(error));
  }
}

/** Runs `operation`, turning whatever it throws (or rejects with) into a classified StoreError. */
function classified<T>(operation: () => Promise<T>): Promise<T> {
  return guarded(() => operation().catch(rethrowClassified));
}

/** The script calls of one store, bound to its client; the checks carry full keys. */
function scriptCalls(client: RedisStoreClient): Pick<CrossSlotDeps, "charge" | "refund"> {
  return {
    charge(checks) {
      const args = buildScriptArgs(checks);
      return runScript(client, TOKEN_BUCKET, { numKeys: checks.length, args }).then((reply) =>
        parseReply(reply, checks.length),
      );
    },
    refund(entries) {
      const args = buildRefundArgs(entries);
      return runScript(client, REFUND, { numKeys: entries.length, args }).then((reply) =>
        parseRefundReply(reply, entries.length),
      );
    },
  };
}

/**
 * The checks with `prefix` in front of their keys. Concatenation leaves a V8 cons string, unlike
 * keys.ts's join, but these keys are written to the socket and dropped, never kept in a map.
 */
function prefixed(checks: readonly KeyedCheck[], prefix: string): readonly KeyedCheck[] {
  if (prefix === "") return checks;
  return checks.map(({ key, spec, cost, shadow }) => ({ key: prefix + key, spec, cost, shadow }));
}

export function createRedisStore(options: RedisStoreOptions): KeyedBucketStore {
  const { client, keyPrefix = "", closeClient = true, onRefundError, deadlineMs } = options;
  const crossSlot: CrossSlotDeps = {
    ...scriptCalls(client),
    onRefundError: (error) => onRefundError?.(classifyRedisError(error)),
  };

  /** `full` are the checks on their full keys, prefix included. */
  function charge(full: readonly KeyedCheck[]): Promise<StoreDecision> {
    // Single node and Sentinel: one call with every key (Redis enforces slots only in Cluster).
    if (!client.isCluster) return crossSlot.charge(full);
    const groups = groupBySlot(full);
    return groups.length === 1 ? crossSlot.charge(full) : evaluateAcrossSlots(crossSlot, groups);
  }

  /** `fullKeys` keys the checks under the prefix; it runs guarded, so a throw there is classified. */
  function decide(count: number, fullKeys: () => readonly KeyedCheck[]): Promise<StoreDecision> {
    if (count === 0) return Promise.resolve(NO_CHECKS);
    if (deadlineMs === undefined) return classified(() => charge(fullKeys()));
    // withDeadline classifies too (its own timeout is a StoreError already): one promise less.
    return guarded(() => withDeadline(charge(fullKeys()), { ms: deadlineMs, mapError: classifyRedisError }));
  }

  return {
    evaluate: (checks) => decide(checks.length, () => keyedChecks(checks, keyPrefix)),
    evaluateKeyed: (checks) => decide(checks.length, () => prefixed(checks, keyPrefix)),
    peek(bucket) {
      return classified(async () =>
        parseSnapshot(await client.hmget(bucketKey(bucket, keyPrefix), "t", "u")),
      );
    },
    reset(bucket) {
      return classified(async () => void (await client.del(bucketKey(bucket, keyPrefix))));
    },
    async close() {
      if (!closeClient) return;
      // QUIT needs a live connection (no offline queue): when Redis is down, just drop the socket.
      await client.quit().catch(() => client.disconnect());
    },
  } satisfies KeyedBucketStore;
}
