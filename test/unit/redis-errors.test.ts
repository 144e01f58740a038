import { describe, expect, it } from "vitest";
import { classifyRedisError } from "../../src/store/redis/errors.js";

describe("Redis error classification", () => {
  it.each([
    ["Command timed out", "timeout", true],
    ["connect ETIMEDOUT", "timeout", true],
    ["connect ECONNREFUSED 127.0.0.1:6390", "connection", true],
    ["read ECONNRESET", "connection", true],
    ["Connection is closed.", "connection", true],
    ["Stream isn't writeable and enableOfflineQueue options is false", "connection", true],
    ["CLUSTERDOWN The cluster is down", "cluster", true],
    ["TRYAGAIN Multiple keys request during rehashing of slot", "cluster", true],
    ["LOADING Redis is loading the dataset in memory", "loading", true],
    ["READONLY You can't write against a read only replica.", "readonly", true],
    ["BUSY Redis is busy running a script.", "busy", true],
    ["OOM command not allowed when used memory > 'maxmemory'.", "oom", true],
    ["ERR Error running script (call to f_x): @user_script:1: oops", "bug", false],
    ["WRONGTYPE Operation against a key holding the wrong kind of value", "bug", false],
  ])("%s → %s", (message, kind, transient) => {
    const error = classifyRedisError(new Error(message));
    expect({ kind: error.kind, transient: error.transient, message: error.message }).toEqual({
      kind,
      transient,
      message,
    });
  });

  it("is idempotent", () => {
    const once = classifyRedisError(new Error("Command timed out"));
    expect(classifyRedisError(once)).toBe(once);
  });
});
