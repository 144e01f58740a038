import { describe, expect, it } from "vitest";
import { backoffMs } from "../../src/domain/backoff.js";

describe("backoffMs", () => {
  it("starts at the minimum, doubles with each failure, and stays at the maximum", () => {
    const range = { minMs: 250, maxMs: 30_000 };
    expect([1, 2, 3, 4, 8, 9, 2000].map((n) => backoffMs(n, range))).toEqual([
      250, 500, 1000, 2000, 30_000, 30_000, 30_000,
    ]);
  });
});
