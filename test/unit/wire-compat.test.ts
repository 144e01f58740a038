import type { MethodDefinition } from "@grpc/proto-loader";
import { describe, expect, it } from "vitest";
import { packageDefinition, RLS_SERVICE } from "../../src/transport/grpc/proto.js";
import { fromRlsRequest, toRlsResponse } from "../../src/transport/grpc/rls-translate.js";

// Byte vectors from reference §1.4, produced by python-protobuf from Envoy's real protos.
const REQUEST_TWO_ENTRIES = "0a0465646765121d0a0d0a04757365721205616c6963650a0c0a047061746812042f617069";
const REQUEST_HITS_ADDEND = "0a046564676512110a0d0a04757365721205616c6963651a001803";
const RESPONSE_OVER_LIMIT =
  "080212160802120e080a10021a087065722d757365722202082a1a1e0a12782d726174656c696d69742d706f6c69637912087065722d757365722a09736c6f7720646f776e";

function method(): MethodDefinition<object, object> {
  const service = packageDefinition()[RLS_SERVICE] as unknown as Record<
    string,
    MethodDefinition<object, object>
  >;
  return service["ShouldRateLimit"]!;
}

describe("Envoy RLS v3 wire compatibility", () => {
  it("uses the exact gRPC path Envoy calls", () => {
    expect(method().path).toBe("/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit");
  });

  it("decodes a request with two entries and encodes one byte for byte", () => {
    const decoded = method().requestDeserialize(Buffer.from(REQUEST_TWO_ENTRIES, "hex"));
    expect(fromRlsRequest(decoded as never)).toEqual({
      domain: "edge",
      hitsAddend: 0,
      descriptors: [
        {
          entries: [
            { key: "user", value: "alice" },
            { key: "path", value: "/api" },
          ],
          limitOverride: undefined,
          hitsAddend: undefined,
        },
      ],
    });
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
    expect(method().requestSerialize(minimal).toString("hex")).toBe(REQUEST_TWO_ENTRIES);
  });

  it("tells a present descriptor hits_addend of 0 from an absent one", () => {
    const decoded = method().requestDeserialize(Buffer.from(REQUEST_HITS_ADDEND, "hex"));
    expect(fromRlsRequest(decoded as never)).toEqual({
      domain: "edge",
      hitsAddend: 3,
      descriptors: [{ entries: [{ key: "user", value: "alice" }], limitOverride: undefined, hitsAddend: 0 }],
    });
    const minimal = {
      domain: "edge",
      descriptors: [{ entries: [{ key: "user", value: "alice" }], hits_addend: {} }],
      hits_addend: 3,
    };
    expect(method().requestSerialize(minimal).toString("hex")).toBe(REQUEST_HITS_ADDEND);
  });

  it("encodes an OVER_LIMIT response from the domain result byte for byte", () => {
    const response = toRlsResponse({
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
    });
    const withBody = { ...response, raw_body: Buffer.from("slow down") };
    expect(method().responseSerialize(withBody).toString("hex")).toBe(RESPONSE_OVER_LIMIT);
    const back = method().responseDeserialize(Buffer.from(RESPONSE_OVER_LIMIT, "hex"));
    expect(back).toMatchObject({ overall_code: 2, raw_body: Buffer.from("slow down") });
  });

  it("encodes WEEK as 7 in the response unit", () => {
    const bytes = method().responseSerialize(
      toRlsResponse({
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
      }),
    );
    // overall OK; status {code OK, current_limit {1/WEEK}, duration_until_reset {}}
    expect(bytes.toString("hex")).toBe("0801120a080112040801100722" + "00");
  });
});
