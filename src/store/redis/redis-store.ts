/**
 * The Redis BucketStore: every evaluation is one EVALSHA of token-bucket.lua (one round trip,
 * atomic on the server, clock = Redis TIME). On NOSCRIPT (a restarted or flushed server) the same
 * call is sent once as EVAL, which also puts the script back in the server's cache.
 *
 * ioredis' defineCommand would do the same, but it sends the first call of every connection as a
 * full EVAL and needs an untyped property on the client; doing it here keeps the types and makes
 * "one EVALSHA per evaluate()" literally true.
 */
import type { Redis } from "ioredis";
import type { BucketCheck, BucketOutcome, BucketState } from "../../domain/bucket.js";
import type { BucketStore, StoreDecision } from "../bucket-store.js";
import { TOKEN_BUCKET_LUA, TOKEN_BUCKET_SHA } from "./script.js";

/** The few client methods the store uses (DESIGN §9.2), so a Cluster client fits later. */
export type RedisStoreClient = Pick<Redis, "evalsha" | "eval" | "hmget" | "del" | "quit">;

export interface RedisStoreOptions {
  readonly client: RedisStoreClient;
  /** Prepended to every bucket key (before its hash tag). Default "". */
  readonly keyPrefix?: string;
  /** close() also quits the client. Default true; pass false when the client is shared. */
  readonly closeClient?: boolean;
}

const ARGS_PER_CHECK = 5;
const REPLY_PER_CHECK = 4;
const NO_CHECKS: StoreDecision = Object.freeze({ allowed: true, outcomes: [], source: "redis" });

/** KEYS then ARGV, laid out as the script header says. */
export function buildScriptArgs(checks: readonly BucketCheck[], keyPrefix: string): (string | number)[] {
  const n = checks.length;
  const args = new Array<string | number>(n * (1 + ARGS_PER_CHECK));
  for (let i = 0; i < n; i++) {
    const { key, spec, cost, shadow } = checks[i]!;
    args[i] = keyPrefix + key;
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

async function runScript(
  client: RedisStoreClient,
  numKeys: number,
  args: (string | number)[],
): Promise<unknown> {
  try {
    return await client.evalsha(TOKEN_BUCKET_SHA, numKeys, ...args);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return client.eval(TOKEN_BUCKET_LUA, numKeys, ...args);
  }
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

function parseState(fields: (string | null)[]): BucketState | undefined {
  const [tokens, updatedAtUs] = fields;
  if (tokens == null || updatedAtUs == null) return undefined;
  return { tokens: Number(tokens), updatedAtUs: Number(updatedAtUs) };
}

export function createRedisStore(options: RedisStoreOptions): BucketStore {
  const { client, keyPrefix = "", closeClient = true } = options;
  return {
    kind: "redis",
    async evaluate(checks) {
      if (checks.length === 0) return NO_CHECKS;
      const reply = await runScript(client, checks.length, buildScriptArgs(checks, keyPrefix));
      return parseReply(reply, checks.length);
    },
    async peek(key) {
      return parseState(await client.hmget(keyPrefix + key, "t", "u"));
    },
    async reset(key) {
      await client.del(keyPrefix + key);
    },
    async close() {
      if (closeClient) await client.quit();
    },
  } satisfies BucketStore;
}
