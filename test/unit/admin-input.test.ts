import { describe, expect, it } from "vitest";
import { validateLimit, validateTarget } from "../../src/admin/admin-input.js";
import type { TargetInput } from "../../src/admin/admin-input.js";
import { loadRulesFromText } from "../fixtures/rules-text.js";
import { toLimitRequest } from "../../src/limiting/check-limit.js";
import { validateLimitRequest } from "../../src/limiting/limits.js";

/**
 * An operator names a descriptor the way the hot path receives it: CheckLimit's sugar gives the
 * entries CheckLimit itself builds, and an entry the hot path refuses is refused here too.
 */
const API = "api";
const target = (input: Partial<TargetInput>): TargetInput => ({
  domain: "",
  entries: [],
  userId: "",
  endpoint: "",
  ...input,
});
const entries = (input: Partial<TargetInput>) => validateTarget(target(input), API).entries;
const checkLimitDescriptors = (userId: string, endpoint: string) =>
  toLimitRequest(API, { userId, endpoint, weight: 1 }).descriptors.map((d) => d.entries);

describe("admin targets and CheckLimit's descriptors", () => {
  it("names a user, an endpoint and the pair as CheckLimit does", () => {
    expect(checkLimitDescriptors("u", "")).toEqual([entries({ userId: "u" })]);
    expect(checkLimitDescriptors("", "/e")).toEqual([entries({ endpoint: "/e" })]);
    expect(checkLimitDescriptors("u", "/e")).toEqual([
      entries({ userId: "u" }),
      entries({ endpoint: "/e" }),
      entries({ userId: "u", endpoint: "/e" }),
    ]);
    expect(validateTarget(target({ userId: "u" }), API).domain).toBe(API);
  });
});

describe("admin targets refuse the entries the hot path refuses", () => {
  const shouldRateLimit = (key: string, value: string) => () =>
    validateLimitRequest({
      domain: "edge",
      descriptors: [{ entries: [{ key, value }], descriptorLimit: undefined, hitsAddend: undefined }],
      hitsAddend: 1,
    });
  const override = (key: string, value: string) => () =>
    validateTarget(target({ domain: "edge", entries: [{ key, value }] }), API);

  it.each([
    ["empty", ""],
    ["a NUL", "us\0er"],
    ["a tab", "us\ter"],
    ["a lone surrogate", "us\ud800er"],
    ["U+FFFD", "us\uFFFDer"],
    ["over 256 units", "k".repeat(257)],
  ])("a key that is %s", (_name, key) => {
    expect(shouldRateLimit(key, "v")).toThrow("invalid request: descriptors[0].entries[0].key");
    expect(override(key, "v")).toThrow("invalid request: target.entries[0].key");
  });

  it.each([
    ["a lone surrogate", "a\udc00b"],
    ["U+FFFD", "a\uFFFDb"],
  ])("a CheckLimit user_id or endpoint with %s, and an entry value with it", (_name, value) => {
    expect(() => toLimitRequest(API, { userId: value, endpoint: "", weight: 1 })).toThrow(
      "invalid request: user_id",
    );
    expect(() => toLimitRequest(API, { userId: "u", endpoint: value, weight: 1 })).toThrow(
      "invalid request: endpoint",
    );
    expect(() => validateTarget(target({ userId: value }), API)).toThrow("invalid request: target.user_id");
    expect(() => validateTarget(target({ endpoint: value }), API)).toThrow(
      "invalid request: target.endpoint",
    );
    expect(override("user", value)).toThrow("invalid request: target.entries[0].value");
  });

  it("more entries than a descriptor may hold", () => {
    const many = Array.from({ length: 17 }, (_, i) => ({ key: `k${i}`, value: "v" }));
    expect(() =>
      validateLimitRequest({
        domain: "edge",
        descriptors: [{ entries: many, descriptorLimit: undefined, hitsAddend: undefined }],
        hitsAddend: 1,
      }),
    ).toThrow("invalid request: descriptors[0].entries");
    expect(() => validateTarget(target({ domain: "edge", entries: many }), API)).toThrow(
      "invalid request: target.entries",
    );
  });

  it("names the first bad field in entry order, key before value", () => {
    const input = target({
      domain: "edge",
      entries: [
        { key: "a", value: "bad\0" },
        { key: "", value: "v" },
      ],
    });
    expect(() => validateTarget(input, API)).toThrow("invalid request: target.entries[0].value");
  });

  it("stays stricter on values an operator types: a control character but a tab", () => {
    expect(override("user", "a\u0001b")).toThrow("invalid request: target.entries[0].value");
    expect(override("user", "a\tb")).not.toThrow();
    expect(override("user", "v".repeat(1025))).toThrow("invalid request: target.entries[0].value");
  });
});

describe("an override's limit takes the numbers a rule takes", () => {
  const rule = (requestsPerUnit: number, burst: number) => () =>
    loadRulesFromText(
      "r.yaml",
      `domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: minute, requests_per_unit: ${requestsPerUnit}, burst: ${burst}}\n`,
    );
  const override = (requestsPerUnit: number, burst: number) => () =>
    validateLimit({ requestsPerUnit, unit: "minute", burst });

  it("up to 4294967295, and not one more", () => {
    expect(rule(4_294_967_295, 4_294_967_295)).not.toThrow();
    expect(override(4_294_967_295, 4_294_967_295)).not.toThrow();
    expect(rule(4_294_967_296, 1)).toThrow(/requests_per_unit/);
    expect(override(4_294_967_296, 0)).toThrow("invalid request: limit.requests_per_unit");
    expect(rule(1, 4_294_967_296)).toThrow(/burst/);
    expect(override(1, 4_294_967_296)).toThrow("invalid request: limit.burst");
  });
});
