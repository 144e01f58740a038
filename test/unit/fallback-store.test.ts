import { describe, expect, it } from "vitest";
import type { BucketCheck, BucketId } from "../../src/domain/bucket.js";
import type { StoreDecision } from "../../src/store/bucket-store.js";
import type { FallbackEvents } from "../../src/store/fallback-store.js";
import { createFallbackStore, divideSpec, probeBackoff } from "../../src/store/fallback-store.js";
import type { KeyedBucketStore } from "../../src/store/keyed-store.js";
import { createMemoryStore } from "../../src/store/local/memory-store.js";
import { StoreError } from "../../src/store/redis/errors.js";

const bucket = (user: string): BucketId => ({ domain: "fb", entries: [{ key: "user", value: user }] });
const check = (user: string, capacity = 10): BucketCheck => ({
  bucket: bucket(user),
  spec: { capacity, refillTokens: capacity, refillPeriodUs: 60_000_000 },
  cost: 1,
  shadow: false,
});

/** A primary whose behaviour the test switches; stands in for Redis in this unit test only. */
function switchable() {
  let mode: "ok" | "down" | "bug" = "ok";
  let calls = 0;
  const ok: StoreDecision = {
    allowed: true,
    outcomes: [{ sufficient: true, remaining: 9, resetMs: 6000, retryMs: 0 }],
    source: "redis",
  };
  const resets: BucketId[] = [];
  const store: KeyedBucketStore = {
    evaluate: () => Promise.reject(new Error("the fallback must pass keyed checks to evaluateKeyed")),
    evaluateKeyed: () => {
      calls++;
      if (mode === "down") return Promise.reject(new Error("Command timed out"));
      if (mode === "bug") return Promise.reject(new Error("ERR Error running script: boom"));
      return Promise.resolve(ok);
    },
    peek: () => Promise.resolve({ tokens: 7, updatedAtMs: 1_700_000_000_000 }),
    reset: (b) => {
      resets.push(b);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  return { store, resets, set: (m: typeof mode) => (mode = m), calls: () => calls };
}

function recorder() {
  const log: string[] = [];
  const events: FallbackEvents = {
    onEnter: (reason) => log.push(`enter ${reason}`),
    onExit: () => log.push("exit"),
    onFallbackDecision: () => log.push("local"),
    onRedisError: (kind) => log.push(`error ${kind}`),
    onRedisCall: () => undefined,
  };
  return { log, events };
}

function setup(cooldownMs = 60_000, divisor = 1, maxCooldownMs = 60_000) {
  const primary = switchable();
  const { log, events } = recorder();
  const local = createMemoryStore({ maxBuckets: 100, clock: () => 0 });
  const store = createFallbackStore({
    primary: primary.store,
    local,
    divisor,
    failures: 3,
    cooldownMs,
    maxCooldownMs,
    events,
  });
  return { primary, local, log, store };
}

describe("fallback store", () => {
  it("answers from the local store on a transient failure, and the call still succeeds", async () => {
    const { primary, log, store } = setup();
    primary.set("down");
    const decision = await store.evaluate([check("a")]);
    expect(decision).toMatchObject({ allowed: true, source: "local" });
    expect(log).toEqual(["error timeout", "local"]);
    expect(store.status()).toBe("ok");
  });

  it("opens after 3 failures in a row: one alert, then no more Redis calls", async () => {
    const { primary, log, store } = setup();
    primary.set("down");
    for (let i = 0; i < 10; i++) await store.evaluate([check("a")]);
    expect(primary.calls()).toBe(3);
    expect(log.filter((l) => l.startsWith("enter"))).toEqual(["enter timeout: Command timed out"]);
    expect(log.filter((l) => l === "local")).toHaveLength(10);
    expect(store.status()).toBe("degraded");
  });

  it("probes after the cooldown and returns to Redis by itself", async () => {
    const { primary, log, store } = setup(50);
    primary.set("down");
    for (let i = 0; i < 3; i++) await store.evaluate([check("a")]);
    await new Promise((r) => setTimeout(r, 60));
    // Still down: the probe fails and the breaker re-opens without a second alert.
    await store.evaluate([check("a")]);
    expect(log.filter((l) => l.startsWith("enter"))).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 110)); // the second wait is twice the first
    primary.set("ok");
    expect(await store.evaluate([check("a")])).toMatchObject({ source: "redis" });
    expect(log.at(-1)).toBe("exit");
    expect(store.status()).toBe("ok");
  });

  it("waits twice as long after each failed probe, up to the maximum", async () => {
    const { primary, store } = setup(100, 1, 300);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    primary.set("down");
    for (let i = 0; i < 3; i++) await store.evaluate([check("a")]);
    const probesAfter = async (ms: number) => {
      const before = primary.calls();
      await sleep(ms);
      await store.evaluate([check("a")]);
      return primary.calls() - before;
    };
    // Each check either comes 20 ms after a wait ends or 100 ms before it does.
    expect(await probesAfter(120)).toBe(1); // first wait: 100 ms
    expect(await probesAfter(100)).toBe(0); // second wait: 200 ms
    expect(await probesAfter(120)).toBe(1);
    expect(await probesAfter(200)).toBe(0); // third: 300, the maximum
    expect(await probesAfter(120)).toBe(1);
    expect(await probesAfter(320)).toBe(1); // still 300
  });

  it("lays out the probe waits: first, doubled, capped", () => {
    const waits: number[] = [];
    let backoff = probeBackoff(100, 1000).next(undefined);
    for (let i = 0; i < 6; i++) {
      waits.push(backoff.duration);
      backoff = backoff.next(undefined);
    }
    expect(waits).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(probeBackoff(500, 200).next(undefined).duration).toBe(200);
  });

  it("does not hide a bug behind the fallback", async () => {
    const { primary, store } = setup();
    primary.set("bug");
    await expect(store.evaluate([check("a")])).rejects.toMatchObject({ kind: "bug", transient: false });
  });

  it("divides capacity and rate by FALLBACK_DIVISOR while in fallback", async () => {
    const { primary, store } = setup(60_000, 4);
    primary.set("down");
    const results = [];
    for (let i = 0; i < 4; i++) results.push((await store.evaluate([check("d", 10)])).allowed);
    expect(results).toEqual([true, true, false, false]);
  });

  it("peeks Redis, and resets a bucket in both stores", async () => {
    const { primary, local, store } = setup();
    primary.set("down");
    await store.evaluate([check("r")]);
    expect(await local.peek(bucket("r"))).toBeDefined();
    expect(await store.peek(bucket("r"))).toEqual({ tokens: 7, updatedAtMs: 1_700_000_000_000 });
    await store.reset(bucket("r"));
    expect(await local.peek(bucket("r"))).toBeUndefined();
    expect(primary.resets).toEqual([bucket("r")]);
  });

  it("never divides a bucket below one token", () => {
    expect(divideSpec({ capacity: 3, refillTokens: 3, refillPeriodUs: 1e6 }, 10)).toEqual({
      capacity: 1,
      refillTokens: 3,
      refillPeriodUs: 1e7,
    });
  });
});

describe("StoreError", () => {
  it("is transient for every kind but bug", () => {
    expect(new StoreError("timeout", "x").transient).toBe(true);
    expect(new StoreError("bug", "x").transient).toBe(false);
  });
});
