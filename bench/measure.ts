/** One load run against one server, with the probes read before and after it. */
import type { Redis } from "ioredis";
import { runH2load } from "./h2load.js";
import type { LoadResult, LoadRun, LoadShape } from "./node-load.js";
import { runNodeLoad } from "./node-load.js";
import type { FloodgateCounters } from "./probes.js";
import { cpuSeconds, delta, redisCalls } from "./probes.js";
import type { BenchServer } from "./servers.js";

export interface Row {
  readonly server: BenchServer;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly errors: number;
  readonly dropped: number;
  readonly measured: number;
  /** Per request answered by the server during the run (warmup included on both sides). */
  readonly redisCallsPerRequest: number | undefined;
  readonly evalshaPerRequest: number | undefined;
  /**
   * Floodgate on Redis: EVALSHA calls per Redis call it made (decisions from Redis plus calls that
   * failed, which it then decided locally). Exactly 1 is the design: one script call per request,
   * whatever the number of descriptors.
   */
  readonly evalshaPerRedisCall: number | undefined;
  /** Percent of one core over the run. */
  readonly serverCpu: number;
  readonly redisCpu: number | undefined;
  /** Floodgate: decisions during the run, by source. */
  readonly sources: Record<string, number> | undefined;
  /** Open loop: the generator's own send lateness, p99 in ms. */
  readonly lagP99: number | undefined;
  /** Requests per second of every round, in order (this row is the median one). */
  readonly roundsRps: readonly number[];
}

/**
 * The median of several rounds of one server: by req/s flat out, by p99 at a fixed rate. One whole
 * round is kept (not a mix of medians), so every figure in the row comes from the same run.
 */
export function medianRound(rounds: readonly Row[], by: "rps" | "p99"): Row {
  if (rounds.length === 0) throw new Error("no rounds to take the median of");
  const sorted = [...rounds].sort((a, b) => a[by] - b[by]);
  return { ...sorted[Math.floor((sorted.length - 1) / 2)]!, roundsRps: rounds.map((r) => r.rps) };
}

export interface MeasureContext {
  readonly shape: LoadShape;
  readonly redis: Redis;
  readonly redisPid: number;
  /** The h2load version when it generates the load, or undefined for the Node generator. */
  readonly h2load: string | undefined;
}

interface Snapshot {
  readonly at: number;
  readonly serverCpu: number;
  readonly redisCpu: number;
  readonly requests: number;
  readonly calls: { calls: number; evalsha: number };
  readonly counters: FloodgateCounters | undefined;
}

async function snapshot(server: BenchServer, context: MeasureContext): Promise<Snapshot> {
  return {
    at: performance.now(),
    serverCpu: server.cpuSeconds(),
    redisCpu: cpuSeconds(context.redisPid),
    requests: await server.requests(),
    calls: await redisCalls(context.redis),
    counters: await server.counters(),
  };
}

function load(run: LoadRun, context: MeasureContext): Promise<LoadResult> {
  return context.h2load === undefined ? runNodeLoad(run, context.shape) : runH2load(run, context.shape);
}

/** EVALSHA calls per Redis call Floodgate made (see Row), or undefined when it made none. */
function perRedisCall(evalsha: number, before?: FloodgateCounters, after?: FloodgateCounters) {
  if (before === undefined || after === undefined) return undefined;
  const calls =
    (after.bySource.redis ?? 0) - (before.bySource.redis ?? 0) + after.redisErrors - before.redisErrors;
  return calls > 0 ? evalsha / calls : undefined;
}

function rowOf(server: BenchServer, result: LoadResult, snaps: { before: Snapshot; after: Snapshot }): Row {
  const { before, after } = snaps;
  const evalsha = after.calls.evalsha - before.calls.evalsha;
  const seconds = (after.at - before.at) / 1000;
  const requests = after.requests - before.requests;
  const perRequest = (n: number) => (server.usesRedis && requests > 0 ? n / requests : undefined);
  return {
    server,
    rps: result.rps,
    p50: result.latency.quantileMs(0.5),
    p99: result.latency.quantileMs(0.99),
    p999: result.latency.quantileMs(0.999),
    ...{ errors: result.errors, dropped: result.dropped, measured: result.measured },
    redisCallsPerRequest: perRequest(after.calls.calls - before.calls.calls),
    evalshaPerRequest: perRequest(evalsha),
    evalshaPerRedisCall: server.usesRedis
      ? perRedisCall(evalsha, before.counters, after.counters)
      : undefined,
    serverCpu: ((after.serverCpu - before.serverCpu) / seconds) * 100,
    redisCpu: server.usesRedis ? ((after.redisCpu - before.redisCpu) / seconds) * 100 : undefined,
    sources:
      before.counters && after.counters
        ? delta(before.counters.bySource, after.counters.bySource)
        : undefined,
    lagP99: result.lag?.quantileMs(0.99),
    roundsRps: [result.rps],
  };
}

/**
 * Waits (at most 2 s) until the server's count stops moving: a generator that stops with requests
 * in flight leaves the server finishing them, and their Redis calls must land in the same window
 * as their decisions.
 */
async function settle(server: BenchServer): Promise<void> {
  let last = await server.requests();
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = await server.requests();
    if (now === last) return;
    last = now;
  }
}

export async function measure(server: BenchServer, run: LoadRun, context: MeasureContext): Promise<Row> {
  await settle(server);
  const before = await snapshot(server, context);
  const result = await load(run, context);
  await settle(server);
  const after = await snapshot(server, context);
  return rowOf(server, result, { before, after });
}
