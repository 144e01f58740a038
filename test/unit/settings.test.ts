import { describe, expect, it } from "vitest";
import { loadSettings, SettingsError } from "../../src/config/settings.js";

describe("settings", () => {
  it("has documented defaults and is frozen", () => {
    const s = loadSettings({});
    expect(s).toMatchObject({
      host: "0.0.0.0",
      grpcPort: 8081,
      httpPort: 8080,
      redisUrl: undefined,
      redisTimeoutMs: 8,
      localMaxBuckets: 100_000,
      shadowMode: false,
      responseHeaders: false,
      checkLimitDomain: "api",
      logLevel: "info",
      shutdownGraceMs: 10_000,
      breakerFailures: 3,
      breakerCooldownMs: 100,
      breakerMaxCooldownMs: 5000,
    });
    expect(s.rulesPath).toMatch(/deploy[/\\]rules$/);
    expect(Object.isFrozen(s)).toBe(true);
  });

  it("parses every variable", () => {
    const s = loadSettings({
      HOST: "127.0.0.1",
      GRPC_PORT: "9001",
      HTTP_PORT: "0",
      RULES_PATH: "/etc/rules",
      REDIS_URL: "rediss://u:p@redis:6380/2",
      REDIS_TIMEOUT_MS: "15",
      LOCAL_MAX_BUCKETS: "10",
      SHADOW_MODE: "1",
      RESPONSE_HEADERS: "true",
      CHECK_LIMIT_DOMAIN: "apps",
      LOG_LEVEL: "debug",
      SHUTDOWN_GRACE_MS: "0",
    });
    expect(s).toMatchObject({
      grpcPort: 9001,
      httpPort: 0,
      shadowMode: true,
      responseHeaders: true,
      redisTimeoutMs: 15,
    });
  });

  it("keeps the breaker's longest wait at least its first one", () => {
    expect(loadSettings({ BREAKER_COOLDOWN_MS: "60000" })).toMatchObject({
      breakerCooldownMs: 60_000,
      breakerMaxCooldownMs: 60_000,
    });
    expect(loadSettings({ BREAKER_COOLDOWN_MS: "50", BREAKER_MAX_COOLDOWN_MS: "400" })).toMatchObject({
      breakerCooldownMs: 50,
      breakerMaxCooldownMs: 400,
    });
    expect(() => loadSettings({ BREAKER_COOLDOWN_MS: "500", BREAKER_MAX_COOLDOWN_MS: "400" })).toThrow(
      /BREAKER_MAX_COOLDOWN_MS: must be at least BREAKER_COOLDOWN_MS/,
    );
  });

  it("treats empty strings as unset", () => {
    expect(loadSettings({ GRPC_PORT: "", REDIS_URL: "" })).toMatchObject({
      grpcPort: 8081,
      redisUrl: undefined,
    });
  });

  it.each([
    ["GRPC_PORT", "http"],
    ["HTTP_PORT", "70000"],
    ["REDIS_TIMEOUT_MS", "0"],
    ["LOCAL_MAX_BUCKETS", "-5"],
    ["SHADOW_MODE", "yes please"],
    ["LOG_LEVEL", "loud"],
    ["SHUTDOWN_GRACE_MS", "1.5"],
  ])("names %s when it is invalid", (name, value) => {
    expect(() => loadSettings({ [name]: value })).toThrow(
      new RegExp(`^invalid settings:\\n  ${name}: .*"${value.replace(".", "\\.")}"`),
    );
  });

  it("reports every problem at once and never echoes the Redis URL", () => {
    try {
      loadSettings({ GRPC_PORT: "x", REDIS_URL: "http://user:secret@host" });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SettingsError);
      const problems = (err as SettingsError).problems;
      expect(problems).toHaveLength(2);
      expect(problems.join("\n")).toMatch(/REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL$/m);
      expect((err as Error).message).not.toMatch(/secret/);
    }
  });
});
