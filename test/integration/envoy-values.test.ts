import protobuf from "protobufjs/minimal.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestServer } from "./support/floodgate.js";
import { call, callRaw, OK, OVER_LIMIT, rlsRequest, startTestServer } from "./support/floodgate.js";

/**
 * Envoy fails open on an error (failure_mode_deny: false, its default): whatever Floodgate refuses
 * is let through with no limit. Descriptor values come from the client (a header, the path), so a
 * value Floodgate refused would be a way out of every limit. A value is data: whatever its length
 * or bytes, it is counted.
 */
const RULES = `
domain: edge
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 2 }
  - key: path
    rate_limit: { unit: minute, requests_per_unit: 100 }
`;

/** Envoy's default request header limit (max_request_headers_kb) is 60 KiB. */
const HEADER_LIMIT = 60 * 1024;

/** A RateLimitRequest in domain "edge" with one descriptor [(user, <raw bytes>)]. */
function rawUserRequest(value: Uint8Array): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(10).string("edge");
  w.uint32(18).fork().uint32(10).fork().uint32(10).string("user").uint32(18).bytes(value).ldelim().ldelim();
  return Buffer.from(w.finish());
}

const RESPONSE_CODE = (bytes: Buffer): number => protobuf.Reader.create(bytes).skip(1).int32();

describe("a client cannot escape its limit through the values Envoy forwards", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ rules: { "edge.yaml": RULES } });
  });
  afterAll(async () => server.stop());

  const decide = async (value: string): Promise<number> =>
    (
      await call<{ overall_code: number }>(
        server.rls,
        "ShouldRateLimit",
        rlsRequest("edge", [[["user", value]]]),
      )
    ).overall_code;

  it.each([
    ["over 1024 characters", "u".repeat(2000)],
    ["as long as Envoy allows a header", "v".repeat(HEADER_LIMIT - 100)],
    ["made of characters the key escapes", "{".repeat(5000)],
  ])("counts a value %s, and denies it past the limit", async (_name, value) => {
    expect([await decide(value), await decide(value), await decide(value)]).toEqual([OK, OK, OVER_LIMIT]);
  });

  it("keeps two long values that differ only at the end apart", async () => {
    const base = "w".repeat(3000);
    expect([await decide(`${base}1`), await decide(`${base}1`), await decide(`${base}1`)]).toEqual([
      OK,
      OK,
      OVER_LIMIT,
    ]);
    expect(await decide(`${base}2`)).toBe(OK);
  });

  it("counts a value that is not valid UTF-8 (an obs-text header byte), and denies it past the limit", async () => {
    const bytes = rawUserRequest(new Uint8Array([0x61, 0xff, 0xfe]));
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push(RESPONSE_CODE(await callRaw(server.raw, bytes)));
    expect(codes).toEqual([OK, OK, OVER_LIMIT]);
  });

  it("decides a request that carries one header-sized value in several descriptors", async () => {
    const path = `/${"p".repeat(HEADER_LIMIT - 100)}`;
    const request = rlsRequest("edge", [
      [["path", path]],
      [
        ["user", "max"],
        ["path", path],
      ],
      [["path", path]],
      [["user", "max"]],
    ]);
    const res = await call<{ overall_code: number; statuses: unknown[] }>(
      server.rls,
      "ShouldRateLimit",
      request,
    );
    expect(res.statuses).toHaveLength(4);
    expect(res.overall_code).toBe(OK);
  });
});
