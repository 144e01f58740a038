import { describe, expect, it } from "vitest";
import { BurstMergingBreaker } from "../../src/store/burst-breaker.js";

function breaker() {
  let now = 0;
  const b = new BurstMergingBreaker({ threshold: 3, burstMs: 1, clock: () => now });
  return { b, at: (ms: number) => (now = ms) };
}

describe("burst-merging breaker", () => {
  it("opens after three failures spread over time", () => {
    const { b, at } = breaker();
    at(0);
    expect(b.failure()).toBe(false);
    at(5);
    expect(b.failure()).toBe(false);
    at(10);
    expect(b.failure()).toBe(true);
  });

  it("counts a burst of simultaneous failures once", () => {
    const { b, at } = breaker();
    at(100);
    for (let i = 0; i < 128; i++) expect(b.failure()).toBe(false);
    at(100.5);
    expect(b.failure()).toBe(false);
    at(101);
    expect(b.failure()).toBe(false);
    at(102);
    expect(b.failure()).toBe(true);
  });

  it("starts over after a success", () => {
    const { b, at } = breaker();
    at(0);
    b.failure();
    at(5);
    b.failure();
    b.success();
    at(10);
    expect(b.failure()).toBe(false);
  });
});
