/**
 * The bundled Node load generator, one child process of the bench: a few raw HTTP/2 connections
 * with many gRPC streams in flight on each, sending request frames encoded in advance.
 *
 * Closed loop (no rate): every stream slot sends its next request as soon as the last one is
 * answered. Open loop (a rate): requests leave on a fixed schedule whatever the answers do, and
 * latency counts from the scheduled time, so a stalled server cannot hide its queue.
 *
 * Protocol: argv[2] is a JSON LoadSpec; the child connects and sends "armed", waits for "go",
 * runs, and sends "result". It stops by itself at the end of its time even if nobody answers.
 */
import type { ClientHttp2Session } from "node:http2";
import { connect } from "node:http2";
import type { ChildMessage } from "./child.js";
import type { HistogramData } from "./histogram.js";
import { Histogram } from "./histogram.js";
import type { KeySpace, Shape } from "./workload.js";
import { requestFrames, RLS_PATH } from "./workload.js";

export interface LoadSpec {
  readonly port: number;
  readonly shape: Shape;
  readonly space: KeySpace;
  /** Where this process starts in the bodies, so that processes send different keys. */
  readonly offset: number;
  readonly connections: number;
  readonly streams: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Requests per second from this process (open loop); absent: closed loop. */
  readonly rate?: number;
}

export interface LoadReport {
  /** Requests sent, warmup included. */
  readonly sent: number;
  /** Requests scheduled inside the measured window, answered or not. */
  readonly measured: number;
  /** Of those: a grpc-status other than 0, a stream error, or no answer before the drain deadline. */
  readonly errors: number;
  /** Open loop: sends skipped because too many were already in flight. */
  readonly dropped: number;
  readonly latency: HistogramData;
  /** Open loop: how late the generator itself sent (actual send minus scheduled time). */
  readonly lag: HistogramData;
}

const HEADERS = { ":method": "POST", ":path": RLS_PATH, "content-type": "application/grpc", te: "trailers" };
const DRAIN_MS = 3000;
/** A hard cap on requests per run, on top of the time limit. */
const MAX_REQUESTS = 50_000_000;

interface Run {
  readonly spec: LoadSpec;
  readonly frames: Buffer[];
  readonly sessions: ClientHttp2Session[];
  readonly latency: Histogram;
  readonly lag: Histogram;
  measureFrom: bigint;
  end: bigint;
  sent: number;
  measured: number;
  errors: number;
  dropped: number;
  inFlight: number;
  /** Called after every answer. */
  onAnswer: () => void;
}

const now = (): bigint => process.hrtime.bigint();

function answered(run: Run, scheduled: bigint, ok: boolean): void {
  run.inFlight--;
  if (scheduled >= run.measureFrom) {
    if (!ok) run.errors++;
    run.latency.record(Number(now() - scheduled) / 1000);
  }
  run.onAnswer();
}

/** Sends one request; `scheduled` is when it should have left (the send time in a closed loop). */
function fire(run: Run, scheduled: bigint): void {
  const session = run.sessions[run.sent % run.sessions.length]!;
  const frame = run.frames[(run.spec.offset + run.sent) % run.frames.length]!;
  run.sent++;
  run.inFlight++;
  if (scheduled >= run.measureFrom) run.measured++;
  let grpcStatus: unknown;
  let stream;
  try {
    stream = session.request(HEADERS);
  } catch {
    // The connection is gone: count it, and let this slot end rather than spin.
    run.inFlight--;
    if (scheduled >= run.measureFrom) run.errors++;
    return;
  }
  // A trailers-only answer (an error) carries grpc-status in the headers.
  stream.on("response", (headers) => {
    grpcStatus = headers["grpc-status"] ?? grpcStatus;
  });
  stream.on("trailers", (trailers) => {
    grpcStatus = trailers["grpc-status"];
  });
  stream.on("error", () => {
    grpcStatus = "stream error";
  });
  stream.on("close", () => answered(run, scheduled, grpcStatus === "0"));
  stream.resume();
  stream.end(frame);
}

function closedLoop(run: Run): void {
  run.onAnswer = () => {
    const t = now();
    if (t < run.end && run.sent < MAX_REQUESTS) fire(run, t);
  };
  const slots = run.spec.connections * run.spec.streams;
  for (let i = 0; i < slots; i++) fire(run, now());
}

function openLoop(run: Run, rate: number): void {
  const interval = BigInt(Math.max(1, Math.round(1e9 / rate)));
  const cap = run.spec.connections * run.spec.streams * 4;
  let next = now();
  run.onAnswer = () => undefined;
  const tick = (): void => {
    const t = now();
    while (next <= t && next < run.end && run.sent < MAX_REQUESTS) {
      const measuring = next >= run.measureFrom;
      if (run.inFlight >= cap) {
        if (measuring) run.dropped++;
      } else {
        if (measuring) run.lag.record(Number(t - next) / 1000);
        fire(run, next);
      }
      next += interval;
    }
    if (next < run.end) setTimeout(tick, 1);
  };
  tick();
}

/** Resolves when every request has been answered, or at the drain deadline (the rest are errors). */
async function drain(run: Run): Promise<void> {
  const deadline = run.end + BigInt(DRAIN_MS) * 1_000_000n;
  while (now() < run.end || (run.inFlight > 0 && now() < deadline)) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  run.errors += run.inFlight;
}

function openSessions(spec: LoadSpec): Promise<ClientHttp2Session[]> {
  return Promise.all(
    Array.from(
      { length: spec.connections },
      () =>
        new Promise<ClientHttp2Session>((resolve, reject) => {
          const session = connect(`http://127.0.0.1:${spec.port}`);
          session.once("connect", () => resolve(session));
          session.once("error", reject);
        }),
    ),
  );
}

async function run(spec: LoadSpec, send: (message: ChildMessage) => void): Promise<void> {
  const frames = requestFrames(spec.shape, spec.space);
  const sessions = await openSessions(spec);
  for (const session of sessions) session.on("error", () => undefined);
  await new Promise<void>((resolve) => {
    process.once("message", () => resolve());
    send({ type: "armed" });
  });
  const start = now();
  const measureFrom = start + BigInt(Math.round(spec.warmupMs * 1e6));
  const end = measureFrom + BigInt(Math.round(spec.durationMs * 1e6));
  const state: Run = {
    ...{ spec, frames, sessions, latency: new Histogram(), lag: new Histogram(), measureFrom, end },
    ...{ sent: 0, measured: 0, errors: 0, dropped: 0, inFlight: 0, onAnswer: () => undefined },
  };
  if (spec.rate === undefined) closedLoop(state);
  else openLoop(state, spec.rate);
  await drain(state);
  for (const session of sessions) session.destroy();
  const { sent, measured, errors, dropped } = state;
  const report: LoadReport = {
    ...{ sent, measured, errors, dropped },
    ...{ latency: state.latency.toData(), lag: state.lag.toData() },
  };
  send({ type: "result", ...report });
}

function main(): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error("start this through the bench (node dist/bench/run.js)");
  const spec = JSON.parse(process.argv[2] ?? "{}") as LoadSpec;
  const limitMs = 60_000 + spec.warmupMs + spec.durationMs + DRAIN_MS;
  setTimeout(() => process.exit(3), limitMs).unref();
  run(spec, (message) => send(message)).then(
    () => process.disconnect(),
    (err: unknown) => send({ type: "error", message: String(err) }, () => process.exit(1)),
  );
}

main();
