import type { MethodDefinition } from "@grpc/proto-loader";
import { describe, expect, it } from "vitest";
import { packageDefinition, RLS_SERVICE } from "../../src/transport/grpc/proto.js";
import { decodeRateLimitRequest } from "../../src/transport/grpc/rls-codec.js";

/** The codec applies the input limits while it decodes, not after (docs/security.md, threat 2). */
function encode(request: object): Buffer {
  const service = packageDefinition()[RLS_SERVICE] as unknown as Record<
    string,
    MethodDefinition<object, object>
  >;
  return service["ShouldRateLimit"]!.requestSerialize(request);
}
const descriptors = (count: number, entries = 1) =>
  Array.from({ length: count }, () => ({
    entries: Array.from({ length: entries }, () => ({ key: "user", value: "a" })),
  }));
const withValue = (value: string) =>
  encode({ domain: "rl", descriptors: [{ entries: [{ key: "k", value }] }] });
const decode = (bytes: Buffer) => () => decodeRateLimitRequest(bytes);

describe("RLS codec input limits", () => {
  it("stops at the 65th descriptor", () => {
    expect(
      decodeRateLimitRequest(encode({ domain: "rl", descriptors: descriptors(64) })).descriptors,
    ).toHaveLength(64);
    expect(decode(encode({ domain: "rl", descriptors: descriptors(65) }))).toThrow(
      "invalid request: descriptors",
    );
    // Envoy's hostile case: 500,000 empty descriptors in ~1 MB.
    const flood = Buffer.concat([
      Buffer.from("0a02726c", "hex"),
      Buffer.alloc(1_000_000, Buffer.from([0x12, 0])),
    ]);
    expect(decode(flood)).toThrow("invalid request: descriptors");
  });

  it("stops at the 17th entry of a descriptor", () => {
    expect(
      decodeRateLimitRequest(encode({ domain: "rl", descriptors: descriptors(1, 16) })).descriptors[0]!
        .entries,
    ).toHaveLength(16);
    expect(decode(encode({ domain: "rl", descriptors: [...descriptors(2), ...descriptors(1, 17)] }))).toThrow(
      "invalid request: descriptors[2].entries",
    );
  });

  it("takes a value whatever its length: it is the client's data, which Envoy forwards", () => {
    expect(
      decodeRateLimitRequest(withValue("語".repeat(5000))).descriptors[0]!.entries[0]!.value,
    ).toHaveLength(5000);
  });

  it("refuses a domain or a key from its byte length, over 3 bytes per allowed character", () => {
    // 256 characters of 3 bytes each: the longest key that can be valid, decoded in full.
    const key = (k: string) => encode({ domain: "rl", descriptors: [{ entries: [{ key: k, value: "" }] }] });
    expect(decodeRateLimitRequest(key("語".repeat(256))).descriptors[0]!.entries[0]!.key).toHaveLength(256);
    // 768 ASCII bytes may be decoded: the service refuses them by their length in characters.
    expect(decodeRateLimitRequest(key("k".repeat(768))).descriptors[0]!.entries[0]!.key).toHaveLength(768);
    const longKey = encode({
      domain: "rl",
      descriptors: [{ entries: [{ key: "k".repeat(769), value: "" }] }],
    });
    expect(decode(longKey)).toThrow("invalid request: descriptors[0].entries[0].key");
    expect(decode(encode({ domain: "d".repeat(769), descriptors: [] }))).toThrow("invalid request: domain");
  });
});
