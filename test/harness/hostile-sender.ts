/**
 * Hostile messages (docs/security.md, threat 2), from a process of their own so that sending
 * them does not load the event loop being measured. Run as
 * `node dist/test/harness/hostile-sender.js <port> <domain> <count> <ms> [descriptors|entries|value]`
 * (built by `make build`, as bench/hostile-messages.ts imports it): it keeps 16 messages in
 * flight over 4 connections for <ms>, then reports how they were answered (an IPC message
 * `{type: "done", answers}`, or a JSON line without an IPC channel). The messages are a
 * ShouldRateLimit of <count> empty descriptors (the default), or with `entries` a SetOverride
 * whose target has <count> empty entries.
 */
import type { Client } from "@grpc/grpc-js";
import { credentials, makeGenericClientConstructor, status } from "@grpc/grpc-js";
import protobuf from "protobufjs/minimal.js";
import { fileURLToPath } from "node:url";
import { rawMethod } from "./raw-grpc.js";

export const HOSTILE_IN_FLIGHT = 16;
const CONNECTIONS = 4;

export type RawClient = Client & {
  call(req: Buffer, cb: (err: (Error & { code?: number }) | null) => void): void;
};

export const SHOULD_RATE_LIMIT = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";
export const SET_OVERRIDE = "/floodgate.v1.Admin/SetOverride";

/** A client of the method at `path` speaking bytes, on a connection of its own (no shared subchannel). */
export function rawClient(port: number, path = SHOULD_RATE_LIMIT): RawClient {
  const Raw = makeGenericClientConstructor({ call: rawMethod(path) }, "Raw");
  return new Raw(`127.0.0.1:${port}`, credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
  }) as unknown as RawClient;
}

/** The call's status code (OK when it succeeded). */
export function send(client: RawClient, bytes: Buffer): Promise<status> {
  return new Promise((resolve) => client.call(bytes, (err) => resolve((err?.code as status) ?? status.OK)));
}

/**
 * Latencies (ms) of `count` calls sent one every `everyMs`, open loop: each is timed from when it
 * was due, not from when it left, so a stalled event loop (ours or the server's) counts in full
 * for every call it held up, instead of only once.
 */
export async function openLoopLatencies(
  client: RawClient,
  request: Buffer,
  schedule: { count: number; everyMs: number },
): Promise<{ latencies: number[]; failures: number }> {
  const origin = performance.now();
  let failures = 0;
  const latencies = await Promise.all(
    Array.from({ length: schedule.count }, async (_, i) => {
      const due = origin + i * schedule.everyMs;
      await new Promise((resolve) => setTimeout(resolve, due - performance.now()));
      if ((await send(client, request)) !== status.OK) failures++;
      return performance.now() - due;
    }),
  );
  return { latencies, failures };
}

/** The `q` quantile (0 to 1) of `values`, by nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** `domain`, then `count` empty descriptors (field 2, length 0): 2 bytes each. */
export function emptyDescriptors(domain: string, count: number): Buffer {
  const name = Buffer.from(domain);
  return Buffer.concat([
    Buffer.from([0x0a, name.length]),
    name,
    Buffer.alloc(count * 2, Buffer.from([0x12, 0])),
  ]);
}

/**
 * A SetOverride whose target is `domain` and `count` empty entries (2 bytes each): valid
 * protobuf, and one object per entry for a decoder that builds them all.
 */
export function emptyEntries(domain: string, count: number): Buffer {
  const writer = protobuf.Writer.create();
  writer.uint32(0x0a).fork().uint32(0x0a).string(domain);
  for (let i = 0; i < count; i++) writer.uint32(0x12).uint32(0);
  return Buffer.from(writer.ldelim().finish());
}

/**
 * A ShouldRateLimit of one descriptor [(user, <count × "{">)]: a value is the client's data, taken
 * whatever its length, and `{` is a character the bucket key must not carry as it is.
 */
export function longValue(domain: string, count: number): Buffer {
  const writer = protobuf.Writer.create();
  writer.uint32(0x0a).string(domain);
  writer.uint32(0x12).fork().uint32(0x0a).fork();
  writer.uint32(0x0a).string("user").uint32(0x12).string("{".repeat(count));
  return Buffer.from(writer.ldelim().ldelim().finish());
}

/** What the sender sends: the method, and the message for a domain and a count. */
const KINDS = {
  descriptors: { path: SHOULD_RATE_LIMIT, message: emptyDescriptors },
  entries: { path: SET_OVERRIDE, message: emptyEntries },
  value: { path: SHOULD_RATE_LIMIT, message: longValue },
} as const;

export type HostileKind = keyof typeof KINDS;

async function attack(options: {
  port: number;
  domain: string;
  count: number;
  ms: number;
  kind: HostileKind;
}) {
  const { path, message } = KINDS[options.kind];
  const hostile = message(options.domain, options.count);
  const clients = Array.from({ length: CONNECTIONS }, () => rawClient(options.port, path));
  const answers: Record<string, number> = {};
  const until = Date.now() + options.ms;
  await Promise.all(
    Array.from({ length: HOSTILE_IN_FLIGHT }, async (_, i) => {
      while (Date.now() < until) {
        const name = status[await send(clients[i % CONNECTIONS]!, hostile)];
        answers[name] = (answers[name] ?? 0) + 1;
      }
    }),
  );
  for (const client of clients) client.close();
  return answers;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port, domain, count, ms, kind = "descriptors"] = process.argv.slice(2);
  if (!(kind in KINDS)) throw new Error(`unknown kind ${kind}: ${Object.keys(KINDS).join(" or ")}`);
  const answers = await attack({
    port: Number(port),
    domain: domain!,
    count: Number(count),
    ms: Number(ms),
    kind: kind as HostileKind,
  });
  if (process.send === undefined) process.stdout.write(`${JSON.stringify(answers)}\n`);
  else process.send({ type: "done", answers }, () => process.exit(0));
}
