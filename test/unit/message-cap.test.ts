import { describe, expect, it } from "vitest";
import { INPUT_LIMITS } from "../../src/limiting/limits.js";
import { MAX_REASON_LENGTH } from "../../src/admin/admin-input.js";
import { packageDefinition } from "../../src/transport/grpc/proto.js";
import { SERVER_OPTIONS } from "../../src/transport/grpc/server.js";

/**
 * The gRPC message cap (src/transport/grpc/server.ts) against what the APIs need: the largest
 * requests that are valid within the documented limits, measured with the real serializers.
 */
const CAP = SERVER_OPTIONS["grpc.max_receive_message_length"];
const UINT32_MAX = 4_294_967_295;

type Serializers = Record<string, Record<string, { requestSerialize(value: object): Buffer }>>;
const size = (service: string, method: string, request: object) =>
  (packageDefinition() as unknown as Serializers)[service]![method]!.requestSerialize(request).length;

/** 3 bytes in UTF-8: the most a UTF-16 code unit can take, so the longest valid strings. */
const wide = (units: number) => "語".repeat(units);
const entries = (count: number, text: (units: number) => string) =>
  Array.from({ length: count }, () => ({
    key: text(INPUT_LIMITS.maxKeyLength),
    value: text(INPUT_LIMITS.maxValueLength),
  }));
const TIMESTAMP_MAX = { seconds: 253_402_300_799, nanos: 999_999_999 };
const RLS = "envoy.service.ratelimit.v3.RateLimitService";
const ADMIN = "floodgate.v1.Admin";

function rateLimitRequest(descriptors: number, perDescriptor: number, text: (units: number) => string) {
  return {
    domain: text(INPUT_LIMITS.maxDomainLength),
    descriptors: Array.from({ length: descriptors }, () => ({
      entries: entries(perDescriptor, text),
      limit: { requests_per_unit: UINT32_MAX, unit: 6 },
      hits_addend: { value: INPUT_LIMITS.maxCost },
    })),
    hits_addend: INPUT_LIMITS.maxCost,
  };
}

describe("the gRPC message cap", () => {
  it("holds every valid Admin and CheckLimit request", () => {
    const target = {
      domain: wide(INPUT_LIMITS.maxDomainLength),
      entries: entries(INPUT_LIMITS.maxEntries, wide),
    };
    const limit = { requests_per_unit: UINT32_MAX, unit: 7, burst: UINT32_MAX };
    const reason = wide(MAX_REASON_LENGTH);
    const largest = [
      size(ADMIN, "SetOverride", { target, limit, expires_at: TIMESTAMP_MAX, reason }),
      size(ADMIN, "DeleteOverride", { target, reason }),
      size(ADMIN, "ResetBucket", { target, reason }),
      size("floodgate.v1.RateLimiter", "CheckLimit", {
        user_id: wide(INPUT_LIMITS.maxValueLength),
        endpoint: wide(INPUT_LIMITS.maxValueLength),
        weight: INPUT_LIMITS.maxCost,
      }),
    ];
    expect(largest).toEqual([65_465, 65_434, 65_434, 6_156]);
    expect(Math.max(...largest) * 2).toBeLessThanOrEqual(CAP);
  });

  it("holds what Envoy sends, and is itself a limit on RateLimitRequest", () => {
    const path = `/api/v1/orders/${"x".repeat(185)}`;
    const user = "3f2b9c1e-7a4d-4e8b-9c2a-1d5e6f7a8b9c";
    const realistic = {
      domain: "edge",
      descriptors: [
        { entries: [{ key: "user", value: user }] },
        { entries: [{ key: "path", value: path }] },
        {
          entries: [
            { key: "user", value: user },
            { key: "path", value: path },
          ],
        },
        { entries: [{ key: "remote_address", value: "2001:db8:85a3::8a2e:370:7334" }] },
      ],
    };
    const heavy = {
      domain: "edge",
      descriptors: Array.from({ length: 8 }, () => ({
        entries: Array.from({ length: 4 }, () => ({ key: "x-tenant-id", value: "t".repeat(1024) })),
      })),
    };
    expect(size(RLS, "ShouldRateLimit", realistic)).toBeLessThan(1000);
    // A value is whatever the client put in a header (Envoy's default limit: 60 KiB for all of
    // them), and one header may feed several descriptors: eight copies must fit, or Envoy would
    // let that request through unlimited.
    const header = "h".repeat(60 * 1024);
    const copies = {
      domain: "edge",
      descriptors: Array.from({ length: 8 }, () => ({ entries: [{ key: "path", value: header }] })),
    };
    expect(size(RLS, "ShouldRateLimit", copies)).toBeLessThan(CAP);
    expect(size(RLS, "ShouldRateLimit", heavy)).toBeLessThan(CAP / 3);
    // Every field at its limit: far above the cap, which then refuses it (RESOURCE_EXHAUSTED).
    const everything = size(RLS, "ShouldRateLimit", rateLimitRequest(64, 16, wide));
    expect(everything).toBe(3_943_561);
    expect(size(RLS, "ShouldRateLimit", rateLimitRequest(1, 16, wide))).toBeLessThan(CAP);
  });
});
