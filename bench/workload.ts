/**
 * What the bench asks: one rules table (written as Floodgate YAML and wired into the peer), and the
 * ShouldRateLimit request bodies, encoded in advance as gRPC frames.
 */
import type { MethodDefinition } from "@grpc/proto-loader";
import { packageDefinition, RLS_SERVICE } from "../src/transport/grpc/proto.js";

export const DOMAIN = "bench";
export const RLS_PATH = `/${RLS_SERVICE}/ShouldRateLimit`;

/** one: a per-user-per-path descriptor; three: per user, per path and both; flood: one denied key. */
export type Shape = "one" | "three" | "flood";

export interface Limit {
  /** The descriptor's entry keys, joined by "." (nesting in the YAML). */
  readonly keys: string;
  /** The unit in seconds (the peer's window). */
  readonly unitSeconds: number;
  readonly unit: "second" | "hour";
  readonly requestsPerUnit: number;
}

/** High enough that the bench is (almost) all allowed; `flood` allows one request an hour. */
export const LIMITS: readonly Limit[] = [
  { keys: "user", unitSeconds: 1, unit: "second", requestsPerUnit: 1_000_000 },
  { keys: "user.path", unitSeconds: 1, unit: "second", requestsPerUnit: 1_000_000 },
  { keys: "path", unitSeconds: 1, unit: "second", requestsPerUnit: 1_000_000 },
  { keys: "flood", unitSeconds: 3600, unit: "hour", requestsPerUnit: 1 },
];

const limitOf = (keys: string): Limit => LIMITS.find((limit) => limit.keys === keys)!;
const yamlLimit = (l: Limit): string => `{ unit: ${l.unit}, requests_per_unit: ${l.requestsPerUnit} }`;

export const RULES_YAML = `domain: ${DOMAIN}
descriptors:
  - key: user
    rate_limit: ${yamlLimit(limitOf("user"))}
    descriptors:
      - key: path
        rate_limit: ${yamlLimit(limitOf("user.path"))}
  - key: path
    rate_limit: ${yamlLimit(limitOf("path"))}
  - key: flood
    rate_limit: ${yamlLimit(limitOf("flood"))}
`;

type Entries = [string, string][];

function descriptorsOf(shape: Shape, user: string, path: string): Entries[] {
  if (shape === "flood") return [[["flood", "abuser"]]];
  const pair: Entries = [
    ["user", user],
    ["path", path],
  ];
  return shape === "one" ? [pair] : [[["user", user]], [["path", path]], pair];
}

function rlsMethod(): MethodDefinition<unknown, unknown> {
  const service = packageDefinition()[RLS_SERVICE] as Record<string, MethodDefinition<unknown, unknown>>;
  return service.ShouldRateLimit!;
}

/** The 5-byte gRPC message prefix (uncompressed, big-endian length), then the message. */
export function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

export interface KeySpace {
  readonly users: number;
  readonly paths: number;
}

/** A prime that shares no factor with the key-space size, to step through it in a scattered order. */
function stride(n: number): number {
  let step = 7919;
  while (n % step === 0) step += 2;
  return step;
}

/**
 * Framed request bodies for every user on every path (one body for a flood). Body i is the key
 * (i × stride) mod n, so consecutive requests differ in both user and path.
 */
export function requestFrames(shape: Shape, space: KeySpace): Buffer[] {
  const serialize = rlsMethod().requestSerialize;
  const n = shape === "flood" ? 1 : space.users * space.paths;
  const step = stride(n);
  const frames: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const k = (i * step) % n;
    const user = `user-${k % space.users}`;
    const path = `/api/v1/resource-${Math.floor(k / space.users)}`;
    const descriptors = descriptorsOf(shape, user, path).map((entries) => ({
      entries: entries.map(([key, value]) => ({ key, value })),
    }));
    frames.push(grpcFrame(serialize({ domain: DOMAIN, descriptors })));
  }
  return frames;
}
