import { describe, expect, it } from "vitest";
import { parseRedisUrl, redactRedisUrl } from "../../src/config/redis-url.js";
import { baseRedisOptions } from "../../src/store/redis/client.js";

describe("parseRedisUrl", () => {
  it("reads host, port, db and decoded credentials", () => {
    expect(parseRedisUrl("redis://user:p%40ss@cache.internal:6380/2")).toEqual({
      host: "cache.internal",
      port: 6380,
      db: 2,
      username: "user",
      password: "p@ss",
      tls: false,
    });
  });

  it("defaults the port and db, and accepts a password without a user", () => {
    expect(parseRedisUrl("rediss://:secret@[::1]")).toEqual({
      host: "::1",
      port: 6379,
      db: 0,
      username: undefined,
      password: "secret",
      tls: true,
    });
  });

  it.each(["not a url", "http://host:6379", "redis://host/x", "redis://host/-1", "redis://host/1.5"])(
    "rejects %j without echoing it",
    (url) => {
      expect(() => parseRedisUrl(url)).toThrow(/Redis URL/);
    },
  );

  it("never puts the password in an error", () => {
    let message = "";
    try {
      parseRedisUrl("redis://u:hunter2@host/nope");
    } catch (error) {
      message = JSON.stringify(error, Object.getOwnPropertyNames(error));
    }
    expect(message).not.toBe("");
    expect(message).not.toContain("hunter2");
  });
});

describe("redactRedisUrl", () => {
  it("drops the credentials", () => {
    expect(redactRedisUrl("rediss://user:hunter2@host:7000/1")).toBe("rediss://host:7000/1");
    expect(redactRedisUrl("redis://u:hunter2@[::1]:7000")).toBe("redis://[::1]:7000/0");
    expect(redactRedisUrl("garbage hunter2")).toBe("<invalid redis url>");
  });
});

describe("baseRedisOptions", () => {
  it("fails fast within the deadline and never replays a command", () => {
    expect(baseRedisOptions({ timeoutMs: 15 })).toMatchObject({
      commandTimeout: 250,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      enableAutoPipelining: false,
      lazyConnect: false,
    });
  });
});
