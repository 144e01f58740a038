import protobuf from "protobufjs/minimal.js";
import { invalidArgument } from "../../domain/errors.js";
import type { Unit } from "../../domain/units.js";
import { INPUT_LIMITS } from "../../limiting/limits.js";
import type {
  DescriptorStatus,
  LimitRequest,
  LimitResult,
  LimitSpec,
  RequestDescriptor,
} from "../../limiting/types.js";

/**
 * A hand-written codec for the two messages on the hot path (RateLimitRequest in,
 * RateLimitResponse out), on protobufjs's Reader and Writer. It goes straight between bytes and
 * domain types, with none of the reflection and default-filling of the generic loader, which
 * dominated a profile of ShouldRateLimit. Field numbers and wire types are those of Envoy's own
 * protos (re-declared in proto/envoy/, wire-compatible); test/unit/wire-compat.test.ts holds this
 * codec to byte vectors that python-protobuf produced from Envoy's real protos, and cross-checks
 * it against the generic loader. Zero scalars are not written, as protoc-generated encoders do.
 *
 * The documented input limits (limiting/limits.ts) bound the decoding itself, so that a hostile
 * message costs no more than a valid one (docs/security.md, threat 2): it stops at the 65th
 * descriptor and at the 17th entry of a descriptor, and refuses an over-long domain or key from
 * its byte length, before it is decoded. A value is taken whatever its length or bytes
 * (limiting/limits.ts says why); the message cap bounds it. The service still checks every limit
 * once the request is decoded.
 */
const { Reader, Writer } = protobuf;
type ReaderT = protobuf.Reader;
type WriterT = protobuf.Writer;

/** envoy.type.v3.RateLimitUnit (request side: no WEEK). */
const OVERRIDE_UNITS: readonly (Unit | undefined)[] = [
  undefined,
  "second",
  "minute",
  "hour",
  "day",
  "month",
  "year",
];
/** RateLimitResponse.RateLimit.Unit (response side: WEEK is 7). */
const RESPONSE_UNIT: Readonly<Record<Unit, number>> = {
  second: 1,
  minute: 2,
  hour: 3,
  day: 4,
  week: 7,
  month: 5,
  year: 6,
};
const CODE = { OK: 1, OVER_LIMIT: 2 } as const;

/** Protobuf's varint-encoded uint64 as a JS number (exact below 2^53; larger values are rejected later). */
function uint64(reader: ReaderT): number {
  const long = reader.uint64() as unknown as number | { low: number; high: number };
  return typeof long === "number" ? long : (long.high >>> 0) * 4294967296 + (long.low >>> 0);
}

/** UTF-8 takes at most 3 bytes per UTF-16 code unit: more than 3 × N bytes is over N units. */
const MAX_UTF8_BYTES_PER_UNIT = 3;

/**
 * The string at the reader, or undefined when its byte length is over `maxUnits` code units.
 * A one-byte length (under 128) is within every limit, so most strings skip the check.
 */
function boundedString(reader: ReaderT, maxUnits: number): string | undefined {
  const start = reader.pos;
  if (reader.buf[start]! < 0x80) return reader.string();
  if (reader.uint32() > maxUnits * MAX_UTF8_BYTES_PER_UNIT) return undefined;
  reader.pos = start;
  return reader.string();
}

/** The entry, or which of its strings is over its limit (the caller names the field). */
function decodeEntry(reader: ReaderT, end: number): { key: string; value: string } | "key" | "value" {
  let key: string | undefined = "";
  let value: string | undefined = "";
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === 10) key = boundedString(reader, INPUT_LIMITS.maxKeyLength);
    else if (tag === 18) value = reader.string();
    else reader.skipType(tag & 7);
    if (key === undefined) return "key";
    if (value === undefined) return "value";
  }
  return { key, value };
}

function decodeOverride(reader: ReaderT, end: number, index: number): LimitSpec {
  let requestsPerUnit = 0;
  let unitNumber = 0;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === 8) requestsPerUnit = reader.uint32();
    else if (tag === 16) unitNumber = reader.int32();
    else reader.skipType(tag & 7);
  }
  const unit = OVERRIDE_UNITS[unitNumber];
  if (unit === undefined) throw invalidArgument(`descriptors[${index}].limit.unit`);
  return { name: undefined, requestsPerUnit, unit };
}

function decodeUInt64Value(reader: ReaderT, end: number): number {
  let value = 0;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === 8) value = uint64(reader);
    else reader.skipType(tag & 7);
  }
  return value;
}

function decodeDescriptor(reader: ReaderT, end: number, index: number): RequestDescriptor {
  const entries: { key: string; value: string }[] = [];
  let descriptorLimit: LimitSpec | undefined;
  let hitsAddend: number | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field >= 1 && field <= 3 && (tag & 7) === 2) {
      const stop = reader.uint32() + reader.pos;
      if (field === 1) {
        if (entries.length === INPUT_LIMITS.maxEntries)
          throw invalidArgument(`descriptors[${index}].entries`);
        const entry = decodeEntry(reader, stop);
        if (typeof entry === "string")
          throw invalidArgument(`descriptors[${index}].entries[${entries.length}].${entry}`);
        entries.push(entry);
      } else if (field === 2) descriptorLimit = decodeOverride(reader, stop, index);
      else hitsAddend = decodeUInt64Value(reader, stop);
    } else reader.skipType(tag & 7);
  }
  return { entries, descriptorLimit, hitsAddend };
}

function decodeDomain(reader: ReaderT): string {
  const domain = boundedString(reader, INPUT_LIMITS.maxDomainLength);
  if (domain === undefined) throw invalidArgument("domain");
  return domain;
}

/**
 * Throws on malformed bytes (protobufjs range errors), on an unknown override unit, and as soon
 * as the input limits are exceeded.
 */
export function decodeRateLimitRequest(bytes: Uint8Array): LimitRequest {
  const reader = Reader.create(bytes);
  let domain = "";
  let hitsAddend = 0;
  const descriptors: RequestDescriptor[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === 10) domain = decodeDomain(reader);
    else if (tag === 18) {
      if (descriptors.length === INPUT_LIMITS.maxDescriptors) throw invalidArgument("descriptors");
      descriptors.push(decodeDescriptor(reader, reader.uint32() + reader.pos, descriptors.length));
    } else if (tag === 24) hitsAddend = reader.uint32();
    else reader.skipType(tag & 7);
  }
  return { domain, descriptors, hitsAddend };
}

function encodeLimit(w: WriterT, limit: LimitSpec): void {
  w.uint32(18).fork();
  if (limit.requestsPerUnit !== 0) w.uint32(8).uint32(limit.requestsPerUnit);
  w.uint32(16).int32(RESPONSE_UNIT[limit.unit]);
  if (limit.name !== undefined && limit.name !== "") w.uint32(26).string(limit.name);
  w.ldelim();
}

function encodeStatus(w: WriterT, s: DescriptorStatus): void {
  w.uint32(18).fork();
  w.uint32(8).int32(CODE[s.code]);
  if (s.currentLimit !== undefined) encodeLimit(w, s.currentLimit);
  if (s.limitRemaining !== 0) w.uint32(24).uint32(s.limitRemaining);
  if (s.currentLimit !== undefined) {
    const seconds = Math.ceil(s.resetMs / 1000);
    w.uint32(34).fork();
    if (seconds !== 0) w.uint32(8).int64(seconds);
    w.ldelim();
  }
  w.ldelim();
}

export function encodeRateLimitResponse(result: LimitResult, rawBody?: Uint8Array): Buffer {
  const w = Writer.create();
  w.uint32(8).int32(CODE[result.overallCode]);
  for (const status of result.statuses) encodeStatus(w, status);
  for (const header of result.responseHeaders) {
    w.uint32(26).fork().uint32(10).string(header.key);
    if (header.value !== "") w.uint32(18).string(header.value);
    w.ldelim();
  }
  if (rawBody !== undefined && rawBody.length > 0) w.uint32(42).bytes(rawBody);
  return w.finish() as Buffer;
}
