/**
 * Shared by the resilience tests (README, "When Redis fails"): a bounded request stream that
 * records every failure and latency, metric reading from the Prometheus text format (in-process
 * registry or GET /metrics alike), polling with a deadline, and the fallback alert's log lines.
 */
import { performance } from "node:perf_hooks";
import { sleep } from "../../harness/processes.js";
import type { UnaryClient } from "./floodgate.js";
import { call, rlsRequest } from "./floodgate.js";

/** Rules the fault tests stream against: roomy limits, so that the store is what is exercised. */
export const FAULT_RULES = {
  "api.yaml": `
domain: api
descriptors:
  - key: user_id
    rate_limit: { unit: second, requests_per_unit: 1000 }
`,
  "fault.yaml": `
domain: fault
descriptors:
  - key: user
    rate_limit: { unit: second, requests_per_unit: 1000 }
`,
};

/**
 * The fault tests' settings: a 50 ms deadline (the margin we assert is measured against it), the
 * default breaker threshold, and a short cooldown so that recovery is quick to observe.
 */
export const REDIS_TIMEOUT_MS = 50;
export const FAULT_ENV = {
  REDIS_TIMEOUT_MS: String(REDIS_TIMEOUT_MS),
  BREAKER_FAILURES: "3",
  BREAKER_COOLDOWN_MS: "500",
};

/**
 * What a response may take beyond REDIS_TIMEOUT_MS. A request pays at most one deadline (the
 * breaker then answers locally at once); the rest is gRPC, the event loop and a loaded 2-core
 * machine running other test files. Measured worst case on such a machine: see the report.
 */
export const LATENCY_MARGIN_MS = 200;

export interface Sample {
  /** When the request was sent, ms since the stream started. */
  readonly at: number;
  readonly latencyMs: number;
  readonly rpc: "ShouldRateLimit" | "CheckLimit";
}

export interface StreamResult {
  readonly samples: readonly Sample[];
  readonly failures: readonly { at: number; error: string }[];
  readonly maxLatencyMs: number;
  readonly elapsedMs: number;
}

export interface StreamOptions {
  readonly rls: UnaryClient;
  readonly rateLimiter: UnaryClient;
  /** Parallel request loops. */
  readonly concurrency: number;
  /** The stream stops sending after this long… */
  readonly durationMs: number;
  /** …or after this many requests, whichever comes first. */
  readonly maxRequests: number;
  /** Pause of each loop between its requests. */
  readonly pauseMs: number;
  /** Stop early once this returns true (checked before each request). */
  readonly until?: () => boolean;
}

/** Alternates ShouldRateLimit and CheckLimit over a few users; never throws. */
export async function streamRequests(options: StreamOptions): Promise<StreamResult> {
  const samples: Sample[] = [];
  const failures: { at: number; error: string }[] = [];
  const start = performance.now();
  let sent = 0;
  const loop = async (worker: number): Promise<void> => {
    for (;;) {
      const at = performance.now() - start;
      if (at >= options.durationMs || sent >= options.maxRequests || options.until?.()) return;
      const n = sent++;
      const user = `u${(n * 7 + worker) % 16}`;
      const rpc = n % 2 === 0 ? "ShouldRateLimit" : "CheckLimit";
      const t0 = performance.now();
      try {
        if (rpc === "ShouldRateLimit") {
          await call(options.rls, rpc, rlsRequest("fault", [[["user", user]]]));
        } else {
          await call(options.rateLimiter, rpc, { user_id: user, endpoint: "", weight: 1 });
        }
        samples.push({ at, latencyMs: performance.now() - t0, rpc });
      } catch (error) {
        failures.push({ at, error: error instanceof Error ? error.message : String(error) });
      }
      await sleep(options.pauseMs);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, i) => loop(i)));
  const maxLatencyMs = Math.max(0, ...samples.map((s) => s.latencyMs));
  return { samples, failures, maxLatencyMs, elapsedMs: performance.now() - start };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One line of figures, printed only with FLOODGATE_TEST_TIMINGS=1 (a test asserts, it does not report). */
export function reportTimings(label: string, figures: Record<string, number | string>): void {
  if (process.env.FLOODGATE_TEST_TIMINGS !== "1") return;
  const text = Object.entries(figures)
    .map(([k, v]) => `${k}=${typeof v === "number" ? Math.round(v * 10) / 10 : v}`)
    .join(" ");
  console.info(`[timings] ${label}: ${text}`);
}

/** Sum of every sample of `name` whose labels include `labels` (0 when there is none). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found[pair[1]!] = pair[2]!;
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(match[3]);
  }
  return sum;
}

/** Reads metrics from an in-process registry or from a URL serving /metrics. */
export type MetricsSource = { metrics(): Promise<string> } | string;

export async function scrape(source: MetricsSource): Promise<string> {
  if (typeof source !== "string") return source.metrics();
  const res = await fetch(`${source}/metrics`, { signal: AbortSignal.timeout(5000) });
  return res.text();
}

export async function metric(
  source: MetricsSource,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return metricValue(await scrape(source), name, labels);
}

/** Polls `probe` until it returns true; resolves with the time it took, or throws at the deadline. */
export async function waitFor(
  what: string,
  probe: () => boolean | Promise<boolean>,
  { timeoutMs, intervalMs = 25 }: { timeoutMs: number; intervalMs?: number },
): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (await probe()) return performance.now() - start;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export interface Readyz {
  readonly status: number;
  readonly components: Record<string, string>;
}

export async function readyz(httpUrl: string): Promise<Readyz> {
  const res = await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { components?: Record<string, string> };
  return { status: res.status, components: body.components ?? {} };
}

/** pino's numeric levels, as the in-process test server records them. */
const ERROR = 50;
const INFO = 30;

/** The alert on entering fallback (src/app/store-factory.ts): error level, with a reason. */
export function enteredFallbackLines(logs: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  return logs.filter(
    (l) =>
      l.level === ERROR &&
      typeof l.msg === "string" &&
      /fallback/i.test(l.msg) &&
      typeof l.reason === "string" &&
      l.reason !== "",
  );
}

/** The line on leaving fallback: info level, "redis is back…". */
export function leftFallbackLines(logs: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  return logs.filter((l) => l.level === INFO && typeof l.msg === "string" && /^redis is back/i.test(l.msg));
}
