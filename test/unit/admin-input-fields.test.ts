import { describe, expect, it } from "vitest";
import {
  validateExpiry,
  validateLimit,
  validateReason,
  validateTarget,
} from "../../src/admin/admin-input.js";

const target = (over: Partial<Parameters<typeof validateTarget>[0] & object> = {}) => ({
  domain: "svc",
  entries: [{ key: "user", value: "alice" }],
  userId: "",
  endpoint: "",
  ...over,
});

describe("admin input", () => {
  it("takes a domain and entries as they are", () => {
    expect(validateTarget(target(), "api")).toEqual({
      domain: "svc",
      entries: [{ key: "user", value: "alice" }],
    });
  });

  it("turns user_id and endpoint into CheckLimit's descriptor in CHECK_LIMIT_DOMAIN", () => {
    expect(validateTarget(target({ domain: "", entries: [], userId: "u", endpoint: "/x" }), "api")).toEqual({
      domain: "api",
      entries: [
        { key: "user_id", value: "u" },
        { key: "endpoint", value: "/x" },
      ],
    });
    expect(() => validateTarget(target({ userId: "u" }), "api")).toThrow("target.entries");
  });

  it("names the field it refuses", () => {
    expect(() => validateTarget(undefined, "api")).toThrow("target");
    expect(() => validateTarget(target({ domain: "" }), "api")).toThrow("target.domain");
    expect(() => validateTarget(target({ entries: [] }), "api")).toThrow("target.entries");
    expect(() => validateTarget(target({ entries: [{ key: "", value: "v" }] }), "api")).toThrow(
      "target.entries[0].key",
    );
    expect(() => validateTarget(target({ entries: [{ key: "k", value: "a\u0000b" }] }), "api")).toThrow(
      "target.entries[0].value",
    );
  });

  it("checks a limit's numbers and makes burst 0 mean none", () => {
    expect(validateLimit({ requestsPerUnit: 5, unit: "minute", burst: 0 })).toEqual({
      requestsPerUnit: 5,
      unit: "minute",
      burst: undefined,
    });
    expect(() => validateLimit(undefined)).toThrow("limit");
    expect(() => validateLimit({ requestsPerUnit: 5, unit: undefined, burst: 0 })).toThrow("limit.unit");
    expect(() => validateLimit({ requestsPerUnit: 1.5, unit: "minute", burst: 0 })).toThrow(
      "limit.requests_per_unit",
    );
    expect(() => validateLimit({ requestsPerUnit: 2 ** 32, unit: "minute", burst: 0 })).toThrow(
      "limit.requests_per_unit",
    );
    expect(() => validateLimit({ requestsPerUnit: 1, unit: "minute", burst: -1 })).toThrow("limit.burst");
  });

  it("wants a reason, trimmed, with no control characters but tabs and newlines", () => {
    expect(validateReason("  ticket 1\n\tmore ")).toBe("ticket 1\n\tmore");
    expect(() => validateReason("   ")).toThrow("reason");
    expect(() => validateReason("a\u0007b")).toThrow("reason");
  });

  it("wants an expiry in the future and within Timestamp's range", () => {
    const now = Date.UTC(2026, 0, 1);
    expect(validateExpiry(undefined, now)).toBeUndefined();
    expect(validateExpiry(new Date(now + 1), now)?.getTime()).toBe(now + 1);
    expect(() => validateExpiry(new Date(now), now)).toThrow("expires_at");
    expect(() => validateExpiry(new Date(Number.NaN), now)).toThrow("expires_at");
    expect(() => validateExpiry(new Date(Date.UTC(10000, 0, 1)), now)).toThrow("expires_at");
  });
});
