import type { GrpcObject, ServiceDefinition } from "@grpc/grpc-js";
import { loadPackageDefinition } from "@grpc/grpc-js";
import type { MethodDefinition, Options, PackageDefinition } from "@grpc/proto-loader";
import { loadSync } from "@grpc/proto-loader";
import { PROTO_DIR } from "../../config/paths.js";

/**
 * Loads the .proto files once. Generated message shapes stay inside transport/grpc: handlers
 * translate them to domain types right away (README, "How it works").
 */
export const PROTO_FILES = [
  "envoy/service/ratelimit/v3/rls.proto",
  "floodgate/v1/rate_limiter.proto",
  "floodgate/v1/admin.proto",
];

export const RLS_SERVICE = "envoy.service.ratelimit.v3.RateLimitService";
export const RATE_LIMITER_SERVICE = "floodgate.v1.RateLimiter";
export const ADMIN_SERVICE = "floodgate.v1.Admin";

/**
 * keepCase keeps proto field names; longs as Number is safe because every 64-bit input we read
 * is bounded by validation long before 2^53; enums stay numeric so no string maps run per call.
 */
const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: Number,
  enums: Number,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let cached: PackageDefinition | undefined;

export function packageDefinition(): PackageDefinition {
  cached ??= loadSync(PROTO_FILES, LOADER_OPTIONS);
  return cached;
}

/**
 * Marks a request body that did not decode; the handler answers INVALID_ARGUMENT, with the
 * decoder's own error when it names a field (an unknown enum value, say).
 */
export const MALFORMED = Symbol("malformed");
export interface Malformed {
  readonly [MALFORMED]: unknown;
}

export function isMalformed(value: unknown): value is Malformed {
  return typeof value === "object" && value !== null && MALFORMED in value;
}

/** Wraps a decoder so that it never throws into grpc-js (which would answer INTERNAL). */
export function safeDecoder<T>(decode: (bytes: Buffer) => T): (bytes: Buffer) => T | Malformed {
  return (bytes) => {
    try {
      return decode(bytes);
    } catch (error) {
      return { [MALFORMED]: error };
    }
  };
}

/**
 * grpc-js answers INTERNAL when a request fails to decode. Bad input must get INVALID_ARGUMENT,
 * so each deserializer returns a marker instead of throwing and the handler maps it.
 */
function tolerant(definition: ServiceDefinition): ServiceDefinition {
  const out: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition)) {
    out[name] = { ...method, requestDeserialize: safeDecoder(method.requestDeserialize) } as MethodDefinition<
      unknown,
      unknown
    >;
  }
  return out;
}

export function serviceDefinition(fullName: string): ServiceDefinition {
  const definition = packageDefinition()[fullName];
  if (definition === undefined || "format" in definition) {
    throw new Error(`proto service ${fullName} not found`);
  }
  return tolerant(definition);
}

/** A client constructor for tests and the CLI. */
export function grpcObject(): GrpcObject {
  return loadPackageDefinition(packageDefinition());
}

let readable: PackageDefinition | undefined;

/** The same protos with enum names instead of numbers, for output people read (the CLI's JSON). */
export function readableGrpcObject(): GrpcObject {
  readable ??= loadSync(PROTO_FILES, { ...LOADER_OPTIONS, enums: String });
  return loadPackageDefinition(readable);
}
