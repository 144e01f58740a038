/**
 * Parent side of the Node generator: splits the connections (and the rate) over the generator
 * processes, starts them together, and merges what they measured.
 */
import { spawnChild } from "./child.js";
import { Histogram } from "./histogram.js";
import type { LoadReport, LoadSpec } from "./loadgen.js";
import type { KeySpace, Shape } from "./workload.js";

export interface LoadRun {
  readonly port: number;
  readonly shape: Shape;
  /** Total requests per second (open loop); absent: as fast as answered (closed loop). */
  readonly rate?: number;
}

export interface LoadShape {
  readonly connections: number;
  readonly streams: number;
  readonly processes: number;
  readonly warmupS: number;
  readonly durationS: number;
  readonly space: KeySpace;
}

export interface LoadResult {
  /** Answered requests per second in the measured window. */
  readonly rps: number;
  readonly measured: number;
  readonly errors: number;
  readonly dropped: number;
  readonly latency: Histogram;
  /** Open loop only: the generator's own lateness. */
  readonly lag: Histogram | undefined;
}

export const NODE_GENERATOR = `bench/loadgen.ts (Node ${process.version}, raw node:http2)`;

function specs(run: LoadRun, shape: LoadShape): LoadSpec[] {
  const processes = Math.min(shape.processes, shape.connections);
  const keys = run.shape === "flood" ? 1 : shape.space.users * shape.space.paths;
  return Array.from({ length: processes }, (_, p) => ({
    port: run.port,
    shape: run.shape,
    space: shape.space,
    offset: Math.floor((p * keys) / processes),
    connections: Math.floor(shape.connections / processes) + (p < shape.connections % processes ? 1 : 0),
    streams: shape.streams,
    warmupMs: shape.warmupS * 1000,
    durationMs: shape.durationS * 1000,
    ...(run.rate === undefined ? {} : { rate: run.rate / processes }),
  }));
}

/** Runs the Node generator processes against one server and merges their reports. */
export async function runNodeLoad(run: LoadRun, shape: LoadShape): Promise<LoadResult> {
  const children = specs(run, shape).map((spec) =>
    spawnChild("loadgen.js", { args: [JSON.stringify(spec)] }),
  );
  try {
    await Promise.all(children.map((child) => child.next("armed", { timeoutMs: 30_000 })));
    const timeoutMs = (shape.warmupS + shape.durationS) * 1000 + 30_000;
    const reports = (await Promise.all(
      children.map((child) => child.next("result", { timeoutMs, send: { type: "go" } })),
    )) as unknown as LoadReport[];
    const latency = new Histogram();
    const lag = new Histogram();
    for (const report of reports) {
      latency.merge(report.latency);
      lag.merge(report.lag);
    }
    const sum = (field: "measured" | "errors" | "dropped") => reports.reduce((n, r) => n + r[field], 0);
    const answered = sum("measured") - sum("errors");
    return {
      rps: answered / shape.durationS,
      ...{ measured: sum("measured"), errors: sum("errors"), dropped: sum("dropped") },
      latency,
      lag: run.rate === undefined ? undefined : lag,
    };
  } finally {
    await Promise.all(children.map((child) => child.stop(2000)));
  }
}
