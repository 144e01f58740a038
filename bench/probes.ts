/**
 * What the bench reads around each run: CPU time of the server and Redis processes (/proc), Redis
 * calls (INFO commandstats), and Floodgate's decision counters (its /metrics endpoint).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { commandStats } from "../test/harness/redis-helpers.js";

function clockTicks(): number {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8", timeout: 2000 }).trim()) || 100;
  } catch {
    return 100;
  }
}

const TICKS_PER_SECOND = clockTicks();

/** User + system CPU seconds a process has used so far (0 when it cannot be read). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces): state is [0], utime [11], stime [12].
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/**
 * Client round trips that ran logic in Redis. Redis also counts the commands a script runs inside
 * it, so only the script and transaction calls themselves are counted.
 */
const CALLS = ["eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro", "exec"];

export async function redisCalls(client: Redis): Promise<{ calls: number; evalsha: number }> {
  const stats = await commandStats(client);
  return {
    calls: CALLS.reduce((n, name) => n + (stats[name] ?? 0), 0),
    // EVALSHA alone: a first call on a new connection may also need an EVAL (NOSCRIPT), which
    // is a Redis call but not a second decision.
    evalsha: stats.evalsha ?? 0,
  };
}

export interface FloodgateCounters {
  /** floodgate_decisions_total for the bench's domain, summed by source. */
  readonly bySource: Record<string, number>;
  /** floodgate_redis_errors_total, all kinds: Redis calls that failed (and were decided locally). */
  readonly redisErrors: number;
}

const sampleValue = (line: string): number => Number(line.slice(line.lastIndexOf(" ") + 1));

/** Floodgate's decision and Redis-error counters, from the text exposition format of /metrics. */
export async function floodgateCounters(httpPort: number, domain: string): Promise<FloodgateCounters> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
  const bySource: Record<string, number> = {};
  let redisErrors = 0;
  for (const line of (await response.text()).split("\n")) {
    if (line.startsWith("floodgate_redis_errors_total{")) redisErrors += sampleValue(line);
    if (!line.startsWith("floodgate_decisions_total{")) continue;
    const labels = line.slice(line.indexOf("{") + 1, line.lastIndexOf("}"));
    if (!labels.includes(`domain="${domain}"`)) continue;
    const source = /source="([^"]*)"/.exec(labels)?.[1] ?? "none";
    bySource[source] = (bySource[source] ?? 0) + sampleValue(line);
  }
  return { bySource, redisErrors };
}

export function sumValues(record: Record<string, number>): number {
  return Object.values(record).reduce((n, v) => n + v, 0);
}

/** after − before, per key. */
export function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return Object.fromEntries([...keys].map((key) => [key, (after[key] ?? 0) - (before[key] ?? 0)]));
}
