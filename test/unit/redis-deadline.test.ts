import { Redis } from "ioredis";
import { describe, expect, inject, it } from "vitest";
import { withDeadline } from "../../src/store/redis/deadline.js";

describe("the Redis decision deadline", () => {
  it("passes a result through and fails a silent call as a transient timeout", async () => {
    await expect(withDeadline(Promise.resolve(7), { ms: 10 })).resolves.toBe(7);
    await expect(withDeadline(new Promise(() => undefined), { ms: 10 })).rejects.toMatchObject({
      kind: "timeout",
      transient: true,
    });
  });

  it("maps a failure with mapError, and leaves its own timeout as it is", async () => {
    const mapError = (error: unknown) => new Error(`mapped: ${String(error)}`);
    await expect(withDeadline(Promise.reject(new Error("boom")), { ms: 50, mapError })).rejects.toThrow(
      "mapped: Error: boom",
    );
    await expect(withDeadline(new Promise(() => undefined), { ms: 5, mapError })).rejects.toMatchObject({
      kind: "timeout",
    });
  });

  it("does not blame Redis for the event loop's own lag", async () => {
    const client = new Redis(inject("redisUrl"));
    try {
      await client.ping();
      const guarded = withDeadline(client.ping(), { ms: 10 });
      // Block this process past the deadline: Redis answers meanwhile, its reply waits in the
      // socket buffer, and the 10 ms timer falls due before the socket is read.
      const until = performance.now() + 60;
      while (performance.now() < until) {
        // busy
      }
      await expect(guarded).resolves.toBe("PONG");
    } finally {
      client.disconnect();
    }
  });
});
