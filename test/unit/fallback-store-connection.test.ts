/**
 * The fallback store's state follows the connection and an idle probe, not only the requests
 * (README, "When Redis fails"): no test here sends a request while it waits for the state.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { BucketCheck } from "../../src/domain/bucket.js";
import type { StoreDecision } from "../../src/store/bucket-store.js";
import type { FallbackEvents, FallbackStore } from "../../src/store/fallback-store.js";
import { createFallbackStore } from "../../src/store/fallback-store.js";
import { createMemoryStore } from "../../src/store/local/memory-store.js";
import { StoreError } from "../../src/store/redis/errors.js";

const check: BucketCheck = {
  bucket: { domain: "fb", entries: [{ key: "user", value: "a" }] },
  spec: { capacity: 10, refillTokens: 10, refillPeriodUs: 60_000_000 },
  cost: 1,
  shadow: false,
};
const FROM_REDIS: StoreDecision = { allowed: true, outcomes: [], source: "redis" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let open: FallbackStore | undefined;
afterEach(async () => {
  await open?.close();
  open = undefined;
});

function setup(options: { probe?: () => Promise<unknown>; intervalMs?: number; cooldownMs?: number } = {}) {
  const log: string[] = [];
  let primaryCalls = 0;
  const events: FallbackEvents = {
    onEnter: (reason) => log.push(`enter ${reason}`),
    onExit: () => log.push("exit"),
    onFallbackDecision: () => undefined,
    onRedisError: (kind) => log.push(`error ${kind}`),
    onRedisCall: () => undefined,
  };
  const store = createFallbackStore({
    primary: {
      evaluate: () => Promise.reject(new Error("unused")),
      evaluateKeyed: () => {
        primaryCalls++;
        return Promise.resolve(FROM_REDIS);
      },
      peek: () => Promise.resolve(undefined),
      reset: () => Promise.resolve(),
      close: () => Promise.resolve(),
    },
    local: createMemoryStore({ maxBuckets: 100, clock: () => 0 }),
    divisor: 1,
    failures: 3,
    cooldownMs: options.cooldownMs ?? 60_000,
    maxCooldownMs: 60_000,
    events,
    ...(options.probe === undefined
      ? {}
      : { idleProbe: { run: options.probe, intervalMs: options.intervalMs ?? 10 } }),
  });
  open = store;
  return { store, log, primaryCalls: () => primaryCalls };
}

describe("fallback store: the connection", () => {
  it("a lost connection is the fallback at once, with its reason; 'ready' ends it", async () => {
    const { store, log, primaryCalls } = setup();
    store.connectionLost("connect ECONNREFUSED 127.0.0.1:1");
    expect(store.status()).toBe("degraded");
    expect(log).toEqual(["enter connection: connect ECONNREFUSED 127.0.0.1:1"]);
    expect(await store.evaluate([check])).toMatchObject({ source: "local" });
    expect(primaryCalls()).toBe(0);
    // Every reconnect attempt reports the loss again: still one episode, one alert.
    store.connectionLost("connect ECONNREFUSED 127.0.0.1:1");
    store.connectionReady();
    expect(store.status()).toBe("ok");
    expect(log).toEqual(["enter connection: connect ECONNREFUSED 127.0.0.1:1", "exit"]);
    expect(await store.evaluate([check])).toMatchObject({ source: "redis" });
  });

  it("'ready' with no loss before it changes nothing", () => {
    const { store, log } = setup();
    store.connectionReady();
    expect(store.status()).toBe("ok");
    expect(log).toEqual([]);
  });

  it("closing the store is no outage: a loss reported while it closes raises no alert", async () => {
    const { store, log } = setup();
    const closing = store.close();
    store.connectionLost("connection closed");
    await closing;
    expect(store.status()).toBe("ok");
    expect(log).toEqual([]);
  });
});

describe("fallback store: the idle probe", () => {
  it("failing probes open the breaker with no request, like failing commands", async () => {
    const { store, log } = setup({
      probe: () => Promise.reject(new StoreError("timeout", "Command timed out")),
    });
    await sleep(100);
    expect(store.status()).toBe("degraded");
    expect(log.slice(0, 4)).toEqual([
      "error timeout",
      "error timeout",
      "error timeout",
      "enter timeout: Command timed out",
    ]);
  });

  it("a successful probe is the half-open probe: the store returns to Redis with no request", async () => {
    let healthy = false;
    const { store, log } = setup({
      cooldownMs: 30,
      probe: () => (healthy ? Promise.resolve("PONG") : Promise.reject(new StoreError("connection", "down"))),
    });
    await sleep(80);
    expect(store.status()).toBe("degraded");
    healthy = true;
    await sleep(150);
    expect(store.status()).toBe("ok");
    expect(log.filter((l) => l.startsWith("enter"))).toHaveLength(1);
    expect(log.at(-1)).toBe("exit");
  });

  it("sends no probe while commands come back, and none after close", async () => {
    let probes = 0;
    const { store } = setup({
      intervalMs: 100,
      probe: () => {
        probes++;
        return Promise.resolve("PONG");
      },
    });
    for (let i = 0; i < 40; i++) {
      await store.evaluate([check]);
      await sleep(5);
    }
    expect(probes).toBe(0);
    await sleep(300);
    expect(probes).toBeGreaterThan(0);
    await store.close();
    open = undefined;
    const after = probes;
    await sleep(300);
    expect(probes).toBe(after);
  });
});
