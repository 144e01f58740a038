/** Results as tables (stdout and Markdown) and the targets (docs/benchmarks.md, "Targets") with PASS or FAIL. */
import type { Row } from "./measure.js";
import type { ServerId } from "./servers.js";

export type ScenarioId = "one" | "three" | "half" | "flood";

export interface ScenarioResult {
  readonly id: ScenarioId;
  readonly title: string;
  readonly rows: readonly Row[];
}

export interface HeapResult {
  readonly buckets: number;
  readonly bytesPerBucket: number;
  /** The bytes of one key in Redis (UTF-8), prefix included. */
  readonly keyBytes: number;
  readonly line: string;
}

/** What bench/local-heap.ts printed for `buckets` buckets; undefined if the line is not its own. */
export function heapResultOf(line: string, buckets: number): HeapResult | undefined {
  const bytes = /(\d+) bytes per bucket/.exec(line)?.[1];
  const keyBytes = /key (\d+) bytes/.exec(line)?.[1];
  if (bytes === undefined || keyBytes === undefined) return undefined;
  return { buckets, bytesPerBucket: Number(bytes), keyBytes: Number(keyBytes), line };
}

/** A normal call, and Floodgate's memory, while hostile messages are in flight (bench/hostile-messages.ts). */
export interface HostileRun {
  readonly label: string;
  /** The normal call's latency, ms. */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly calls: number;
  /** Floodgate's RSS before the attack and at its peak during it, MiB. */
  readonly rssBefore: number;
  readonly rssPeak: number;
  /** How the hostile messages were answered: status names with counts. */
  readonly answers: Record<string, number>;
}

export function describeRun(run: HostileRun): string {
  const answers = Object.entries(run.answers)
    .map(([name, n]) => `${name} ×${n.toLocaleString("en-US")}`)
    .join(", ");
  const latency = `p50 ${run.p50.toFixed(2)} ms, p99 ${run.p99.toFixed(2)} ms, max ${run.max.toFixed(2)} ms`;
  const rss = `Floodgate's RSS ${run.rssBefore.toFixed(0)} MiB before, ${run.rssPeak.toFixed(0)} MiB at most`;
  const hostile = answers === "" ? "" : `; the hostile messages were answered ${answers}`;
  return `${run.label}: a normal call ${latency} (${run.calls} calls); ${rss}${hostile}`;
}

export interface BenchResults {
  readonly scenarios: readonly ScenarioResult[];
  /** The fixed rate of the "half" scenario, in requests per second. */
  readonly halfRate: number;
  readonly heap: HeapResult | undefined;
  /** The same with 1 KB hostile values (docs/security.md, threat 7). */
  readonly hostileHeap: HeapResult | undefined;
  /** A normal call under hostile messages (docs/security.md, threat 2): no attack first, then each kind. */
  readonly hostile: readonly HostileRun[] | undefined;
}

export interface Target {
  readonly text: string;
  readonly measured: string;
  readonly pass: boolean;
}

const dash = "–";
const fixed = (n: number | undefined, digits: number) =>
  n === undefined || Number.isNaN(n) ? dash : n.toFixed(digits);
const percent = (n: number | undefined) =>
  n === undefined || !Number.isFinite(n) ? dash : `${Math.round(n * 100)}%`;

export function rowOf(results: BenchResults, scenario: ScenarioId, server: ServerId): Row | undefined {
  return results.scenarios.find((s) => s.id === scenario)?.rows.find((r) => r.server.id === server);
}

/** Share of decisions Floodgate took from its local over-limit cache in a run. */
export function localCacheShare(row: Row | undefined): number | undefined {
  if (row?.sources === undefined) return undefined;
  const total = Object.values(row.sources).reduce((n, v) => n + v, 0);
  return total > 0 ? (row.sources.local_cache ?? 0) / total : undefined;
}

function sourcesText(row: Row): string {
  if (row.sources === undefined) return dash;
  const total = Object.values(row.sources).reduce((n, v) => n + v, 0);
  const shares = Object.entries(row.sources).filter(([, n]) => n > 0);
  return (
    shares.map(([source, n]) => `${source} ${n / total < 0.005 ? "<1%" : percent(n / total)}`).join(", ") ||
    dash
  );
}

const HEADER = [
  "server",
  "req/s",
  "rounds, k req/s",
  "p50 ms",
  "p99 ms",
  "p99.9 ms",
  "vs (a)",
  "Redis calls/req",
];
const TAIL = ["errors", "CPU % server/redis", "decision source"];

function cells(row: Row, baseline: Row | undefined, openLoop: boolean): string[] {
  const errors = row.dropped > 0 ? `${row.errors} (+${row.dropped} not sent)` : String(row.errors);
  const cpu = `${Math.round(row.serverCpu)}${row.redisCpu === undefined ? "" : ` / ${Math.round(row.redisCpu)}`}`;
  return [
    row.server.label,
    Math.round(row.rps).toLocaleString("en-US"),
    row.roundsRps.map((rps) => (rps / 1000).toFixed(1)).join(" / "),
    fixed(row.p50, 2),
    fixed(row.p99, 2),
    fixed(row.p999, 2),
    percent(baseline === undefined ? undefined : row.rps / baseline.rps),
    fixed(row.redisCallsPerRequest, 3),
    ...(openLoop ? [fixed(row.lagP99, 2)] : []),
    errors,
    cpu,
    sourcesText(row),
  ];
}

function grid(scenario: ScenarioResult): string[][] {
  const openLoop = scenario.id === "half";
  const baseline = scenario.rows.find((r) => r.server.id === "baseline");
  return [
    [...HEADER, ...(openLoop ? ["generator lag p99 ms"] : []), ...TAIL],
    ...scenario.rows.map((row) => cells(row, baseline, openLoop)),
  ];
}

/** A fixed-width table for the terminal. */
export function textTable(scenario: ScenarioResult): string {
  const rows = grid(scenario);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)));
  const body = rows.map((r) => line(r).join("  "));
  body.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  return `${scenario.title}\n${body.join("\n")}\n`;
}

export function markdownTable(scenario: ScenarioResult): string {
  const rows = grid(scenario);
  const align = rows[0]!.map((_, c) => (c === 0 || c === rows[0]!.length - 1 ? "---" : "--:"));
  return [rows[0]!, align, ...rows.slice(1)].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

/** Share of a Redis-backed Floodgate's decisions that came from its local fallback store. */
function fallbackShare(row: Row): number {
  const total = Object.values(row.sources ?? {}).reduce((n, v) => n + v, 0);
  return row.server.usesRedis && total > 0 ? (row.sources?.local ?? 0) / total : 0;
}

/** (e) against (c): what a second worker process buys on this machine. */
function workersNote(scenario: ScenarioResult): string[] {
  const workers = scenario.rows.find((r) => r.server.id === "workers");
  const single = scenario.rows.find((r) => r.server.id === "redis");
  if (workers === undefined || single === undefined) return [];
  return [
    `${workers.server.label} answered ${(workers.rps / single.rps).toFixed(2)}× the req/s of ${single.server.label} ` +
      "(its CPU is the primary and its workers together).",
  ];
}

/** Things a reader must know to trust a table: fallback decisions, a rate not kept up with. */
export function notes(scenario: ScenarioResult, halfRate: number): string[] {
  const out: string[] = [...workersNote(scenario)];
  for (const row of scenario.rows) {
    const local = fallbackShare(row);
    if (local > 0.01) {
      out.push(
        `${row.server.label} took ${percent(local)} of its decisions from its local fallback store: Redis ` +
          "answers took longer than REDIS_TIMEOUT_MS under this load and opened the breaker, so this row " +
          "measures the fallback, not Redis.",
      );
    }
    if (scenario.id === "half" && (row.rps < halfRate * 0.95 || row.dropped > 0)) {
      const rate = Math.round(row.rps).toLocaleString("en-US");
      out.push(`${row.server.label} did not keep up with the fixed rate (${rate} req/s answered).`);
    }
  }
  return out;
}

/** A number only counts when (almost) nothing failed, and a Redis row measured Redis. */
function clean(row: Row | undefined): boolean {
  return row !== undefined && row.errors + row.dropped <= row.measured * 0.001 && fallbackShare(row) <= 0.01;
}

/** Marks a measurement that does not count (see `clean`). */
function flagged(text: string, row: Row | undefined): string {
  if (row === undefined || clean(row)) return text;
  return fallbackShare(row) > 0.01
    ? `${text} (local fallback, not Redis)`
    : `${text} (errors or requests not sent)`;
}

function ratioTarget(results: BenchResults, spec: { scenario: ScenarioId; server: ServerId; min: number }) {
  const row = rowOf(results, spec.scenario, spec.server);
  const base = rowOf(results, spec.scenario, "baseline");
  const ratio = row && base ? row.rps / base.rps : Number.NaN;
  const measured = Number.isFinite(ratio) ? `${(ratio * 100).toFixed(1)}%` : dash;
  return { measured: flagged(measured, row), pass: ratio >= spec.min && clean(row) };
}

function fasterTarget(results: BenchResults, scenario: ScenarioId): Omit<Target, "text"> {
  const ours = rowOf(results, scenario, "redis");
  const peer = rowOf(results, scenario, "peer");
  const ratio = ours && peer ? ours.rps / peer.rps : Number.NaN;
  return {
    measured: flagged(Number.isFinite(ratio) ? `${ratio.toFixed(2)}× the peer` : dash, ours),
    pass: ratio > 1 && clean(ours),
  };
}

function latencyTargets(results: BenchResults): Target[] {
  const rate = Math.round(results.halfRate).toLocaleString("en-US");
  return (["redis", "memory"] as const).flatMap((server) => {
    const row = rowOf(results, "half", server);
    const name = server === "redis" ? "Redis" : "in-memory";
    return [
      {
        text: `${name}, at half the baseline's rate (${rate} req/s): p99 ≤ 2 ms`,
        measured: flagged(`${fixed(row?.p99, 2)} ms`, row),
        pass: row !== undefined && clean(row) && row.p99 <= 2,
      },
      {
        text: `${name}, at half the baseline's rate: p99.9 ≤ 5 ms`,
        measured: flagged(`${fixed(row?.p999, 2)} ms`, row),
        pass: row !== undefined && clean(row) && row.p999 <= 5,
      },
    ];
  });
}

/**
 * One script call per request: EVALSHA calls per Redis call Floodgate made. Per request answered,
 * the figure is lower by the share decided locally (while the breaker was open, or the over-limit
 * cache), which the decision-source column shows; that is the fallback, not extra calls.
 */
function evalshaTarget(results: BenchResults): Target {
  const rows = (["one", "three"] as const).map((s) => rowOf(results, s, "redis"));
  const perCall = rows.map((row) => row?.evalshaPerRedisCall);
  const perRequest = rows.map((row) => fixed(row?.evalshaPerRequest, 3)).join(" / ");
  return {
    text: "Exactly one EVALSHA per request (Redis; 1 and 3 descriptors)",
    measured: `${perCall.map((v) => fixed(v, 3)).join(" / ")} per Redis call (${perRequest} per request answered)`,
    pass: perCall.every((v) => v !== undefined && Math.abs(v - 1) <= 0.001),
  };
}

/** The hostile-input targets: hostile keys and hostile messages (docs/security.md, threats 7 and 2). */
function hostileTargets(results: BenchResults): Target[] {
  const heap = results.hostileHeap;
  const attack = results.hostile?.find((run) => run.answers.RESOURCE_EXHAUSTED !== undefined);
  return [
    {
      text: "Local store, 1 KB hostile values: ≤ 300 bytes of heap per bucket",
      measured: heap === undefined ? "not run" : `${heap.bytesPerBucket} B`,
      pass: heap !== undefined && heap.bytesPerBucket <= 300,
    },
    {
      text: "Redis key, 1 KB hostile values: ≤ 200 bytes",
      measured: heap === undefined ? "not run" : `${heap.keyBytes} bytes (prefix fg:)`,
      pass: heap !== undefined && heap.keyBytes <= 200,
    },
    {
      text: "16 hostile ~1 MB messages in flight: a normal call's p99 ≤ 20 ms",
      measured:
        attack === undefined ? "not run" : `${fixed(attack.p99, 2)} ms (max ${fixed(attack.max, 2)} ms)`,
      pass: attack !== undefined && attack.p99 <= 20,
    },
  ];
}

export function targets(results: BenchResults): Target[] {
  const share = localCacheShare(rowOf(results, "flood", "redis"));
  const heap = results.heap;
  return [
    {
      text: "1 descriptor on Redis: ≥ 75% of the baseline's req/s",
      ...ratioTarget(results, { scenario: "one", server: "redis", min: 0.75 }),
    },
    { text: "1 descriptor on Redis: faster than the peer (d)", ...fasterTarget(results, "one") },
    { text: "3 descriptors on Redis: faster than the peer (d)", ...fasterTarget(results, "three") },
    {
      text: "3 descriptors on Redis: ≥ 65% of the baseline's req/s",
      ...ratioTarget(results, { scenario: "three", server: "redis", min: 0.65 }),
    },
    {
      text: "In-memory store, 1 descriptor: ≥ 85% of the baseline's req/s",
      ...ratioTarget(results, { scenario: "one", server: "memory", min: 0.85 }),
    },
    ...latencyTargets(results),
    evalshaTarget(results),
    {
      text: "Flood of one denied key: ≥ 90% of decisions from the local over-limit cache",
      measured: percent(share),
      pass: (share ?? 0) >= 0.9,
    },
    {
      text: "Local store: ≤ 300 bytes of heap per bucket at 1 M buckets",
      measured:
        heap === undefined
          ? "not run"
          : `${heap.bytesPerBucket} B at ${heap.buckets.toLocaleString("en-US")} buckets`,
      pass: heap !== undefined && heap.bytesPerBucket <= 300 && heap.buckets >= 1_000_000,
    },
    ...hostileTargets(results),
  ];
}
