import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestServer } from "./support/floodgate.js";
import { call, callRaw, rlsRequest, startTestServer } from "./support/floodgate.js";
import { RL_RULES } from "./support/rules.js";

const long = (n: number) => "x".repeat(n);

describe("bad input gets INVALID_ARGUMENT / 400 with a generic message", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ rules: { "rl.yaml": RL_RULES, "api.yaml": "domain: api\n" } });
  });
  afterAll(async () => server.stop());

  const rlsError = async (req: object) => {
    const err = (await call(server.rls, "ShouldRateLimit", req).catch((e: unknown) => e)) as {
      code: number;
      details: string;
    };
    return { code: err.code, details: err.details };
  };

  it.each([
    ["an empty domain", rlsRequest("", [[["user", "a"]]]), "domain"],
    ["an oversized domain", rlsRequest(long(300), [[["user", "a"]]]), "domain"],
    [
      "too many descriptors",
      rlsRequest(
        "rl",
        Array.from({ length: 65 }, () => [["user", "a"]] as [string, string][]),
      ),
      "descriptors",
    ],
    [
      "too many entries",
      rlsRequest("rl", [Array.from({ length: 17 }, () => ["user", "a"] as [string, string])]),
      "descriptors[0].entries",
    ],
    ["a control character in the domain", rlsRequest("r\u0001l", [[["user", "a"]]]), "domain"],
    ["an empty key", rlsRequest("rl", [[["", "a"]]]), "descriptors[0].entries[0].key"],
    ["a NUL in a key", rlsRequest("rl", [[["us\0er", "a"]]]), "descriptors[0].entries[0].key"],
    ["an oversized key", rlsRequest("rl", [[[long(300), "a"]]]), "descriptors[0].entries[0].key"],
    [
      "a huge hits_addend",
      rlsRequest("rl", [[["user", "a"]]], { hits_addend: 2_000_000_000 }),
      "hits_addend",
    ],
    [
      "a huge descriptor hits_addend",
      rlsRequest("rl", [{ entries: [["user", "a"]], hits_addend: { value: 5e9 } }]),
      "descriptors[0].hits_addend",
    ],
    [
      "an unknown override unit",
      rlsRequest("rl", [{ entries: [["user", "a"]], limit: { requests_per_unit: 1, unit: 9 } }]),
      "descriptors[0].limit.unit",
    ],
  ])("rejects %s", async (_name, req, field) => {
    const err = await rlsError(req);
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toBe(`invalid request: ${field}`);
  });

  it("rejects a body that is not a protobuf message", async () => {
    const err = (await callRaw(server.raw, Buffer.from([0x0a, 0xff, 0xff, 0xff])).catch(
      (e: unknown) => e,
    )) as {
      code: number;
      details: string;
    };
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toBe("invalid request: body");
  });

  it("accepts control characters in a value: a header value may hold a tab", async () => {
    const res = await call<{ overall_code: number }>(
      server.rls,
      "ShouldRateLimit",
      rlsRequest("rl", [[["user", "a\tb\u0001c\0"]]]),
    );
    expect(res.overall_code).toBe(1);
  });

  it("rejects a bad CheckLimit weight and an empty CheckLimit", async () => {
    const err = (await call(server.rateLimiter, "CheckLimit", { user_id: "", endpoint: "" }).catch(
      (e: unknown) => e,
    )) as {
      code: number;
      details: string;
    };
    expect(err).toMatchObject({ code: status.INVALID_ARGUMENT, details: "invalid request: user_id" });
  });

  // A CheckLimit caller sent user_id, endpoint and weight, never descriptors: errors name those.
  it.each([
    ["a 1,025-character user_id", { user_id: long(1025), endpoint: "/a" }, "user_id"],
    ["U+FFFD in user_id", { user_id: "a\uFFFD", endpoint: "/a" }, "user_id"],
    ["a 1,025-character endpoint", { user_id: "a", endpoint: long(1025) }, "endpoint"],
    ["U+FFFD in endpoint", { user_id: "a", endpoint: "/\uFFFD" }, "endpoint"],
    ["an endpoint alone, too long", { user_id: "", endpoint: long(1025) }, "endpoint"],
    ["a huge weight", { user_id: "a", endpoint: "/a", weight: 2_000_000_000 }, "weight"],
  ])("names CheckLimit's own field for %s (gRPC)", async (_name, req, field) => {
    const err = (await call(server.rateLimiter, "CheckLimit", req).catch((e: unknown) => e)) as {
      code: number;
      details: string;
    };
    expect(err).toMatchObject({ code: status.INVALID_ARGUMENT, details: `invalid request: ${field}` });
  });

  const post = (body: string | Uint8Array, contentType = "application/json") =>
    fetch(`${server.httpUrl}/api/v1/check-limit`, {
      method: "POST",
      headers: { "content-type": contentType },
      body,
    });

  it.each([
    ["malformed JSON", "{not json", "body"],
    ["invalid UTF-8", new Uint8Array([0x7b, 0x22, 0x75, 0xff, 0x22, 0x3a, 0x31, 0x7d]), "body"],
    ["a negative weight", JSON.stringify({ user_id: "a", weight: -1 }), "weight"],
    ["a huge weight", JSON.stringify({ user_id: "a", weight: 1e12 }), "weight"],
    ["a fractional weight", JSON.stringify({ user_id: "a", weight: 1.5 }), "weight"],
    ["a non-string user_id", JSON.stringify({ user_id: 5 }), "user_id"],
    // The name of an unknown field is the client's: it is never echoed.
    ["an unknown field", JSON.stringify({ userId: "a" }), "body"],
    ["an unknown field named like markup", JSON.stringify({ "<img src=x onerror=alert(1)>": 1 }), "body"],
    ["an oversized user_id", JSON.stringify({ user_id: long(2000) }), "user_id"],
    ["a 1,025-character user_id", JSON.stringify({ user_id: long(1025) }), "user_id"],
    ["a 1,025-character endpoint", JSON.stringify({ user_id: "a", endpoint: long(1025) }), "endpoint"],
    // U+FFFD marks bytes a decoder could not read; spelled as an escape, it is still refused.
    ["U+FFFD in user_id", '{"user_id":"a\\ufffd"}', "user_id"],
    ["U+FFFD in endpoint", JSON.stringify({ user_id: "a", endpoint: "/\uFFFD" }), "endpoint"],
    // JSON can spell a lone surrogate, which has no UTF-8 form.
    ["a lone surrogate in user_id", '{"user_id":"a\\ud800"}', "user_id"],
    ["a lone surrogate in endpoint", '{"user_id":"a","endpoint":"\\udc00"}', "endpoint"],
    ["no user and no endpoint", JSON.stringify({}), "user_id"],
  ])("answers 400 to %s", async (_name, body, field) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { code: "INVALID_ARGUMENT", message: `invalid request: ${field}` },
    });
  });

  it("answers 413 to an oversized body", async () => {
    const big = await post(JSON.stringify({ user_id: long(20_000) }));
    expect(big.status).toBe(413);
    expect(await big.json()).toEqual({
      error: { code: "INVALID_ARGUMENT", message: "invalid request: body" },
    });
  });

  it.each([
    ["a form", "user_id=a", "application/x-www-form-urlencoded"],
    // Fastify parses text/plain by default; the README promises 415 for anything but JSON.
    ["plain text", '{"user_id":"a"}', "text/plain"],
    ["plain text with a charset", '{"user_id":"a"}', "text/plain; charset=utf-8"],
    ["bytes", '{"user_id":"a"}', "application/octet-stream"],
  ])("answers 415 to %s, saying which media type to send", async (_name, body, contentType) => {
    const res = await post(body, contentType);
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({
      error: { code: "INVALID_ARGUMENT", message: "invalid request: content-type must be application/json" },
    });
  });

  it("logs a failed HTTP request with its request id and its cause", async () => {
    const res = await fetch(`${server.httpUrl}/api/v1/check-limit`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "bad-input-cause-1" },
      body: JSON.stringify({ user_id: "a\uFFFD" }),
    });
    expect(res.status).toBe(400);
    const line = server.logs.find((l) => l["requestId"] === "bad-input-cause-1");
    expect(line).toMatchObject({
      msg: "request failed",
      status: 400,
      code: "INVALID_ARGUMENT",
      message: "invalid request: user_id",
    });
  });
});
