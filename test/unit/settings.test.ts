import { describe, expect, it } from "vitest";
import { loadCliEnvironment, loadSettings, SettingsError } from "../../src/config/settings.js";

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
      redisIdlePingMs: 1000,
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

  it("takes the idle PING interval as a whole number of ms, up to a minute", () => {
    expect(loadSettings({ REDIS_IDLE_PING_MS: "250" }).redisIdlePingMs).toBe(250);
    for (const bad of ["0", "-5", "1.5", "60001", "soon"]) {
      expect(() => loadSettings({ REDIS_IDLE_PING_MS: bad }), bad).toThrow(/REDIS_IDLE_PING_MS/);
    }
  });

  it("merges files that share a domain only with MERGE_DOMAIN_CONFIG (the reference server's setting)", () => {
    expect(loadSettings({}).mergeDomainConfig).toBe(false);
    expect(loadSettings({ MERGE_DOMAIN_CONFIG: "true" }).mergeDomainConfig).toBe(true);
    expect(loadSettings({ MERGE_DOMAIN_CONFIG: "1" }).mergeDomainConfig).toBe(true);
    expect(loadSettings({ MERGE_DOMAIN_CONFIG: "false" }).mergeDomainConfig).toBe(false);
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
    ["MERGE_DOMAIN_CONFIG", "yes"],
    ["LOG_LEVEL", "loud"],
    ["SHUTDOWN_GRACE_MS", "1.5"],
  ])("names %s when it is invalid", (name, value) => {
    expect(() => loadSettings({ [name]: value })).toThrow(
      new RegExp(`^invalid settings: ${name}: .*"${value.replace(".", "\\.")}"\\)$`),
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

  it.each([
    ["redis://host/x", "the database (the URL's path) must be a non-negative integer"],
    ["redis://host/1.5", "the database (the URL's path) must be a non-negative integer"],
    ["redis://", "must name a host"],
    ["http://host:6379", "must be a redis:// or rediss:// URL"],
    ["not a url", "must be a redis:// or rediss:// URL"],
  ])("refuses REDIS_URL %j with the reason, never the URL", (url, reason) => {
    expect(() => loadSettings({ REDIS_URL: url })).toThrow(new SettingsError([`REDIS_URL: ${reason}`]));
  });

  it("has safe listener defaults: plain text, one gRPC port, bounded HTTP clients, Envoy's limit field on", () => {
    expect(loadSettings({})).toMatchObject({
      adminGrpcPort: undefined,
      tls: undefined,
      http: {
        requestTimeoutMs: 10_000,
        headersTimeoutMs: 5_000,
        idleTimeoutMs: 5_000,
        maxConnections: 10_000,
      },
      descriptorLimits: true,
      auditChainKeyFile: undefined,
    });
    expect(loadSettings({ DESCRIPTOR_LIMIT_OVERRIDES: "false" }).descriptorLimits).toBe(false);
  });

  it("takes TLS as a certificate and key together, and a client CA only with them", () => {
    expect(
      loadSettings({ TLS_CERT_FILE: "/c.pem", TLS_KEY_FILE: "/k.pem", TLS_CLIENT_CA_FILE: "/ca.pem" }).tls,
    ).toEqual({ certFile: "/c.pem", keyFile: "/k.pem", clientCaFile: "/ca.pem" });
    expect(() => loadSettings({ TLS_CERT_FILE: "/c.pem" })).toThrow(/TLS_CERT_FILE, TLS_KEY_FILE: set both/);
    expect(() => loadSettings({ TLS_CLIENT_CA_FILE: "/ca.pem" })).toThrow(
      /TLS_CLIENT_CA_FILE: needs TLS_CERT_FILE and TLS_KEY_FILE/,
    );
  });

  it("refuses Redis TLS files while TLS is off, instead of connecting in plain text", () => {
    const files = {
      REDIS_TLS_CA_FILE: "/ca.pem",
      REDIS_TLS_CERT_FILE: "/c.pem",
      REDIS_TLS_KEY_FILE: "/k.pem",
    };
    expect(() => loadSettings({ REDIS_URL: "redis://r:6379", ...files })).toThrow(
      new SettingsError([
        "REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE: set, but TLS is off (use a rediss:// URL or REDIS_TLS=true)",
      ]),
    );
    expect(() => loadSettings({ REDIS_SENTINELS: "s:26379", REDIS_SENTINEL_MASTER: "m", ...files })).toThrow(
      /set, but TLS is off/,
    );
    expect(loadSettings({ REDIS_URL: "rediss://r:6379", ...files }).redisTls).toMatchObject({
      enabled: true,
    });
    expect(
      loadSettings({ REDIS_CLUSTER_NODES: "n:7000", REDIS_TLS: "true", ...files }).redisTls.enabled,
    ).toBe(true);
  });

  it("takes Sentinel as the Sentinels and a master name together", () => {
    expect(
      loadSettings({
        REDIS_SENTINELS: "s1:26379, s2:26379",
        REDIS_SENTINEL_MASTER: "m",
        REDIS_SENTINEL_PASSWORD: "pw",
      }).redisSentinel,
    ).toEqual({ sentinels: ["s1:26379", "s2:26379"], master: "m", password: "pw" });
    expect(loadSettings({}).redisSentinel).toBeUndefined();
    expect(() => loadSettings({ REDIS_SENTINELS: "s1:26379" })).toThrow(
      new SettingsError(["REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS"]),
    );
  });

  it("states one problem on one line, and several one per line", () => {
    expect(new SettingsError(["A: bad"]).message).toBe("invalid settings: A: bad");
    expect(new SettingsError(["A: bad", "B: worse"]).message).toBe("invalid settings:\n  A: bad\n  B: worse");
  });

  it("keeps the admin listener apart from the others, and header timeouts within the request timeout", () => {
    expect(loadSettings({ ADMIN_GRPC_PORT: "9091" }).adminGrpcPort).toBe(9091);
    expect(() => loadSettings({ ADMIN_GRPC_PORT: "8081" })).toThrow(/ADMIN_GRPC_PORT: must differ/);
    expect(() => loadSettings({ HTTP_REQUEST_TIMEOUT_MS: "1000", HTTP_HEADERS_TIMEOUT_MS: "2000" })).toThrow(
      /HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS/,
    );
  });

  it("fetches a JWKS over https, or over http only from a loopback host", () => {
    const admin = { ADMIN_JWT_ISSUER: "i", ADMIN_JWT_AUDIENCE: "a" };
    for (const url of [
      "https://idp.example.com/jwks",
      "http://127.0.0.1:9000/jwks",
      "http://[::1]/k",
      "http://localhost/k",
    ]) {
      expect(loadSettings({ ...admin, ADMIN_JWKS_URL: url }).admin?.jwksUrl).toBe(url);
    }
    expect(() => loadSettings({ ...admin, ADMIN_JWKS_URL: "http://idp.example.com/jwks" })).toThrow(
      /ADMIN_JWKS_URL: must be an https:\/\/ URL/,
    );
  });

  it("reads the CLI's TLS settings from the environment", () => {
    expect(loadCliEnvironment({}).tls).toEqual({
      enabled: false,
      caFile: undefined,
      certFile: undefined,
      keyFile: undefined,
    });
    expect(loadCliEnvironment({ FLOODGATE_TLS: "true" }).tls.enabled).toBe(true);
    expect(loadCliEnvironment({ FLOODGATE_TLS_CA_FILE: "/ca.pem" }).tls).toMatchObject({
      enabled: true,
      caFile: "/ca.pem",
    });
  });
});
