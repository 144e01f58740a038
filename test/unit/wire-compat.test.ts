import type { MethodDefinition } from "@grpc/proto-loader";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DescriptorStatus, LimitResult } from "../../src/limiting/types.js";
import { packageDefinition, RLS_SERVICE } from "../../src/transport/grpc/proto.js";
import { decodeRateLimitRequest, encodeRateLimitResponse } from "../../src/transport/grpc/rls-codec.js";
import { UNITS } from "../../src/domain/units.js";

// Byte vectors produced by python-protobuf from Envoy's real protos (envoyproxy/data-plane-api):
// a request in domain edge with one descriptor [(user, alice), (path, /api)]; the same domain with
// [(user, alice)], a present descriptor hits_addend of 0 (`1a00`) and a request hits_addend of 3;
// an OVER_LIMIT response with one status (per-user, 10/MINUTE, 0 remaining, 42 s to reset), the
// header x-ratelimit-policy: per-user and the raw body "slow down".
const REQUEST_TWO_ENTRIES = "0a0465646765121d0a0d0a04757365721205616c6963650a0c0a047061746812042f617069";
const REQUEST_HITS_ADDEND = "0a046564676512110a0d0a04757365721205616c6963651a001803";
const RESPONSE_OVER_LIMIT =
  "080212160802120e080a10021a087065722d757365722202082a1a1e0a12782d726174656c696d69742d706f6c69637912087065722d757365722a09736c6f7720646f776e";

/** The generic loader over our .proto files: an independent reading of the same wire format. */
function reflection(): MethodDefinition<object, object> {
  const service = packageDefinition()[RLS_SERVICE] as unknown as Record<
    string,
    MethodDefinition<object, object>
  >;
  return service["ShouldRateLimit"]!;
}

describe("Envoy RLS v3 wire compatibility", () => {
  it("declares the exact gRPC path Envoy calls", () => {
    expect(reflection().path).toBe("/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit");
  });

  it("decodes a request with two entries", () => {
    expect(decodeRateLimitRequest(Buffer.from(REQUEST_TWO_ENTRIES, "hex"))).toEqual({
      domain: "edge",
      hitsAddend: 0,
      descriptors: [
        {
          entries: [
            { key: "user", value: "alice" },
            { key: "path", value: "/api" },
          ],
          descriptorLimit: undefined,
          hitsAddend: undefined,
        },
      ],
    });
    // Our .proto declaration encodes the same request to the same bytes.
    const minimal = {
      domain: "edge",
      descriptors: [
        {
          entries: [
            { key: "user", value: "alice" },
            { key: "path", value: "/api" },
          ],
        },
      ],
    };
    expect(reflection().requestSerialize(minimal).toString("hex")).toBe(REQUEST_TWO_ENTRIES);
  });

  it("tells a present descriptor hits_addend of 0 from an absent one", () => {
    expect(decodeRateLimitRequest(Buffer.from(REQUEST_HITS_ADDEND, "hex"))).toEqual({
      domain: "edge",
      hitsAddend: 3,
      descriptors: [
        { entries: [{ key: "user", value: "alice" }], descriptorLimit: undefined, hitsAddend: 0 },
      ],
    });
    const minimal = {
      domain: "edge",
      descriptors: [{ entries: [{ key: "user", value: "alice" }], hits_addend: {} }],
      hits_addend: 3,
    };
    expect(reflection().requestSerialize(minimal).toString("hex")).toBe(REQUEST_HITS_ADDEND);
  });

  it("decodes the descriptor limit override and rejects an unknown unit by field", () => {
    const bytes = reflection().requestSerialize({
      domain: "d",
      descriptors: [
        {
          entries: [{ key: "k", value: "v" }],
          limit: { requests_per_unit: 5, unit: 6 },
          hits_addend: { value: 7 },
        },
      ],
    });
    expect(decodeRateLimitRequest(bytes).descriptors[0]).toEqual({
      entries: [{ key: "k", value: "v" }],
      descriptorLimit: { name: undefined, requestsPerUnit: 5, unit: "year" },
      hitsAddend: 7,
    });
    const bad = reflection().requestSerialize({
      domain: "d",
      descriptors: [{ entries: [], limit: { requests_per_unit: 1, unit: 9 } }],
    });
    expect(() => decodeRateLimitRequest(bad)).toThrow("invalid request: descriptors[0].limit.unit");
  });

  it("skips unknown fields, as any proto3 parser does", () => {
    // field 15 (varint 1) before the domain
    expect(decodeRateLimitRequest(Buffer.from("78010a0165", "hex")).domain).toBe("e");
  });

  it("rejects truncated bytes", () => {
    expect(() => decodeRateLimitRequest(Buffer.from(REQUEST_TWO_ENTRIES.slice(0, 30), "hex"))).toThrow();
  });

  it("encodes an OVER_LIMIT response byte for byte", () => {
    const result: LimitResult = {
      overallCode: "OVER_LIMIT",
      statuses: [
        {
          code: "OVER_LIMIT",
          currentLimit: { name: "per-user", requestsPerUnit: 10, unit: "minute" },
          limitRemaining: 0,
          resetMs: 41_200,
          retryMs: 6000,
        },
      ],
      responseHeaders: [{ key: "x-ratelimit-policy", value: "per-user" }],
      source: "redis",
    };
    expect(encodeRateLimitResponse(result, Buffer.from("slow down")).toString("hex")).toBe(
      RESPONSE_OVER_LIMIT,
    );
  });

  it("encodes WEEK as 7 in the response unit", () => {
    const bytes = encodeRateLimitResponse({
      overallCode: "OK",
      statuses: [
        {
          code: "OK",
          currentLimit: { name: undefined, requestsPerUnit: 1, unit: "week" },
          limitRemaining: 0,
          resetMs: 0,
          retryMs: 0,
        },
      ],
      responseHeaders: [],
      source: "redis",
    });
    // overall OK; status {code OK, current_limit {1/WEEK}, duration_until_reset {}}
    expect(bytes.toString("hex")).toBe("0801120a08011204080110072200");
  });

  it("encodes any result so that the generic loader reads back the same values", () => {
    const status = fc.record({
      code: fc.constantFrom("OK" as const, "OVER_LIMIT" as const),
      currentLimit: fc.option(
        fc.record({
          name: fc.option(fc.string(), { nil: undefined }),
          requestsPerUnit: fc.nat({ max: 4_294_967_295 }),
          unit: fc.constantFrom(...UNITS),
        }),
        { nil: undefined },
      ),
      limitRemaining: fc.nat({ max: 4_294_967_295 }),
      resetMs: fc.nat({ max: 1e12 }),
      retryMs: fc.nat(),
    });
    const week = { second: 1, minute: 2, hour: 3, day: 4, week: 7, month: 5, year: 6 };
    fc.assert(
      fc.property(
        fc.array(status, { maxLength: 5 }),
        fc.array(fc.record({ key: fc.string({ minLength: 1 }), value: fc.string() }), { maxLength: 3 }),
        (statuses: DescriptorStatus[], headers) => {
          const result: LimitResult = {
            overallCode: "OK",
            statuses,
            responseHeaders: headers,
            source: "local",
          };
          const back = reflection().responseDeserialize(encodeRateLimitResponse(result)) as {
            overall_code: number;
            statuses: {
              code: number;
              current_limit: { name: string; requests_per_unit: number; unit: number } | null;
              limit_remaining: number;
              duration_until_reset: { seconds: number } | null;
            }[];
            response_headers_to_add: { key: string; value: string }[];
          };
          expect(back.overall_code).toBe(1);
          expect(back.response_headers_to_add.map((h) => ({ key: h.key, value: h.value }))).toEqual(headers);
          back.statuses.forEach((s, i) => {
            const want = statuses[i]!;
            expect(s.code).toBe(want.code === "OK" ? 1 : 2);
            expect(s.limit_remaining).toBe(want.limitRemaining);
            if (want.currentLimit === undefined) {
              expect(s.current_limit).toBeNull();
              expect(s.duration_until_reset).toBeNull();
            } else {
              expect(s.current_limit).toEqual({
                name: want.currentLimit.name ?? "",
                requests_per_unit: want.currentLimit.requestsPerUnit,
                unit: week[want.currentLimit.unit],
              });
              expect(s.duration_until_reset!.seconds).toBe(Math.ceil(want.resetMs / 1000));
            }
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
