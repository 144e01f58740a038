import { join } from "node:path";
import { z } from "zod";
import { PACKAGE_ROOT } from "./paths.js";
import { redisUrlProblem } from "./redis-url.js";
import { adminKeySources, conflictsOf, redisTlsOn } from "./settings-checks.js";

/**
 * The only reader of process.env (test/unit/architecture.test.ts holds that): every variable is parsed and
 * validated once at startup, and the frozen result is passed down. An invalid value stops the
 * process with a message that names the variable (and never echoes a secret).
 */
const bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
const port = z.coerce.number().int().min(0).max(65_535);
const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);

const redisUrl = z.string().superRefine((v, ctx) => {
  const problem = redisUrlProblem(v);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

/** `host:port,host:port`, for Cluster seeds and Sentinels. */
const hostList = z
  .string()
  .refine(
    (v) => v.split(",").every((hp) => /^[^\s:,]+:\d{1,5}$/.test(hp.trim())),
    "must be host:port[,host:port...]",
  )
  .transform((v) => v.split(",").map((hp) => hp.trim()));

/** Plain http:// only for a loopback host (a JWKS served by a local sidecar); https:// otherwise. */
function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

const jwksUrl = z
  .url({ protocol: /^https?$/ })
  .refine(
    (v) => v.startsWith("https://") || isLoopbackHost(new URL(v).hostname),
    "must be an https:// URL (http:// only for a loopback host)",
  );

const SCHEMA = z.object({
  HOST: z.string().min(1).default("0.0.0.0"),
  GRPC_PORT: port.default(8081),
  HTTP_PORT: port.default(8080),
  ADMIN_GRPC_PORT: port.optional(),
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  TLS_CLIENT_CA_FILE: z.string().min(1).optional(),
  HTTP_REQUEST_TIMEOUT_MS: positiveInt(600_000).default(10_000),
  HTTP_HEADERS_TIMEOUT_MS: positiveInt(600_000).default(5_000),
  HTTP_IDLE_TIMEOUT_MS: positiveInt(600_000).default(5_000),
  HTTP_MAX_CONNECTIONS: positiveInt(1_000_000).default(10_000),
  DESCRIPTOR_LIMIT_OVERRIDES: bool.default(true),
  RULES_PATH: z
    .string()
    .min(1)
    .default(join(PACKAGE_ROOT, "deploy", "rules")),
  REDIS_URL: redisUrl.optional(),
  REDIS_CLUSTER_NODES: hostList.optional(),
  REDIS_SENTINELS: hostList.optional(),
  REDIS_SENTINEL_MASTER: z.string().min(1).optional(),
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  REDIS_TLS: bool.default(false),
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  REDIS_TLS_CERT_FILE: z.string().min(1).optional(),
  REDIS_TLS_KEY_FILE: z.string().min(1).optional(),
  REDIS_KEY_PREFIX: z.string().max(64).default("fg:"),
  REDIS_TIMEOUT_MS: positiveInt(10_000).default(8),
  REDIS_IDLE_PING_MS: positiveInt(60_000).default(1000),
  LOCAL_MAX_BUCKETS: positiveInt(100_000_000).default(100_000),
  FALLBACK_DIVISOR: z.coerce.number().min(1).max(10_000).default(1),
  BREAKER_FAILURES: positiveInt(1000).default(3),
  BREAKER_COOLDOWN_MS: positiveInt(600_000).default(100),
  BREAKER_MAX_COOLDOWN_MS: positiveInt(600_000).optional(),
  OVER_LIMIT_CACHE_SIZE: z.coerce.number().int().min(0).max(10_000_000).default(10_000),
  SHADOW_MODE: bool.default(false),
  MERGE_DOMAIN_CONFIG: bool.default(false),
  RESPONSE_HEADERS: bool.default(false),
  CHECK_LIMIT_DOMAIN: z.string().min(1).max(256).default("api"),
  DATABASE_URL: z
    .string()
    .refine((v) => /^postgres(ql)?:\/\//.test(v) && URL.canParse(v), "must be a postgres:// URL")
    .optional(),
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lower-case SQL identifier")
    .default("floodgate"),
  ADMIN_DATA_DIR: z.string().min(1).default(".floodgate/db"),
  ADMIN_JWKS_FILE: z.string().min(1).optional(),
  ADMIN_JWKS_URL: jwksUrl.optional(),
  ADMIN_PUBLIC_KEY_FILE: z.string().min(1).optional(),
  ADMIN_JWT_ISSUER: z.string().min(1).optional(),
  ADMIN_JWT_AUDIENCE: z.string().min(1).optional(),
  ADMIN_JWT_MAX_LIFETIME_S: positiveInt(86_400).default(3600),
  ADMIN_JWT_CLOCK_TOLERANCE_S: z.coerce.number().int().min(0).max(300).default(30),
  OVERRIDE_RESYNC_MS: positiveInt(3_600_000).default(5000),
  AUDIT_CHAIN_KEY_FILE: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  WORKERS: positiveInt(64).default(1),
});

/** The name of every environment variable the server reads: the schema's keys. */
export const SETTING_NAMES: readonly string[] = Object.freeze(Object.keys(SCHEMA.shape));

/** Variables whose values must never appear in a message. */
const SECRET_VARIABLES = new Set(["REDIS_URL", "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD", "DATABASE_URL"]);

/** The variables as parsed, before they become Settings (settings-checks.ts reads them too). */
export type ParsedSettings = z.infer<typeof SCHEMA>;

/** Redis Sentinel (REDIS_SENTINELS): where to ask for the master, and its name. */
export interface RedisSentinelSettings {
  /** `host:port` of each Sentinel. */
  readonly sentinels: readonly string[];
  /** REDIS_SENTINEL_MASTER: the name the Sentinels monitor. */
  readonly master: string;
  /** REDIS_SENTINEL_PASSWORD: for the Sentinels themselves. */
  readonly password: string | undefined;
}

export interface RedisTlsFiles {
  /** TLS on (REDIS_TLS=true, or a rediss:// URL). */
  readonly enabled: boolean;
  readonly caFile: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
}

/** Admin API: on only when a key source is set (then issuer and audience are required). */
export interface AdminSettings {
  readonly jwksFile: string | undefined;
  readonly jwksUrl: string | undefined;
  readonly publicKeyFile: string | undefined;
  readonly issuer: string;
  readonly audience: string;
  readonly maxLifetimeS: number;
  readonly clockToleranceS: number;
}

/** TLS on both listeners (TLS_CERT_FILE and TLS_KEY_FILE), mTLS with a client CA. */
export interface ListenerTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** Clients must present a certificate signed by this CA. */
  readonly clientCaFile: string | undefined;
}

/** Limits on HTTP clients, so that a slow or idle one cannot hold a connection for ever. */
export interface HttpLimits {
  /** The whole request (headers and body) must arrive within this. */
  readonly requestTimeoutMs: number;
  /** The headers must arrive within this. */
  readonly headersTimeoutMs: number;
  /** A keep-alive connection with no request in flight is closed after this. */
  readonly idleTimeoutMs: number;
  /** Connections beyond this are refused. */
  readonly maxConnections: number;
}

export interface Settings {
  readonly host: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** The Admin service on a listener of its own (and then not on grpcPort). */
  readonly adminGrpcPort: number | undefined;
  /** Undefined: both listeners are plain text. */
  readonly tls: ListenerTlsFiles | undefined;
  readonly http: HttpLimits;
  /** Honour the descriptor `limit` field of ShouldRateLimit (Envoy's per-route override). */
  readonly descriptorLimits: boolean;
  readonly rulesPath: string;
  /** MERGE_DOMAIN_CONFIG (the reference server's setting): one domain may span several rules files. */
  readonly mergeDomainConfig: boolean;
  readonly redisUrl: string | undefined;
  readonly redisClusterNodes: readonly string[] | undefined;
  readonly redisSentinel: RedisSentinelSettings | undefined;
  /** ACL user and password for Cluster and Sentinel nodes (a single node takes them from REDIS_URL). */
  readonly redisUsername: string | undefined;
  readonly redisPassword: string | undefined;
  readonly redisTls: RedisTlsFiles;
  readonly redisKeyPrefix: string;
  readonly redisTimeoutMs: number;
  /** A PING goes to Redis when no command has come back for this long, so that an outage shows with no traffic. */
  readonly redisIdlePingMs: number;
  readonly localMaxBuckets: number;
  readonly fallbackDivisor: number;
  readonly breakerFailures: number;
  /** The wait before the first probe of an open breaker; each failed probe doubles it. */
  readonly breakerCooldownMs: number;
  /** The longest wait between probes. */
  readonly breakerMaxCooldownMs: number;
  readonly overLimitCacheSize: number;
  readonly shadowMode: boolean;
  readonly responseHeaders: boolean;
  readonly checkLimitDomain: string;
  /** Postgres for overrides and the audit log; unset with admin on means embedded PGlite. */
  readonly databaseUrl: string | undefined;
  readonly databaseSchema: string;
  /** Where embedded PGlite keeps its data. */
  readonly adminDataDir: string;
  readonly admin: AdminSettings | undefined;
  readonly overrideResyncMs: number;
  /** An HMAC key the database never sees, for the audit chain (docs/audit-log.md). */
  readonly auditChainKeyFile: string | undefined;
  readonly logLevel: ParsedSettings["LOG_LEVEL"];
  readonly shutdownGraceMs: number;
  /** Processes serving the same ports (Node cluster), for central deployments. */
  readonly workers: number;
}

/**
 * The one error for a configuration mistake, found by the checks here or when a file that a setting
 * names is read (tls-material.ts, setting-files.ts). Every problem names its variable; the CLI prints
 * the message alone (no stack trace) and exits 2.
 */
export class SettingsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      problems.length === 1
        ? `invalid settings: ${problems[0]}`
        : `invalid settings:\n${problems.map((p) => `  ${p}`).join("\n")}`,
    );
    this.name = "SettingsError";
  }
}

function describe(issue: z.core.$ZodIssue, env: Record<string, string | undefined>): string {
  const name = String(issue.path[0] ?? "?");
  const raw = env[name];
  const shown = SECRET_VARIABLES.has(name) || raw === undefined ? "" : ` (got ${JSON.stringify(raw)})`;
  return `${name}: ${issue.message}${shown}`;
}

function tlsFiles(s: ParsedSettings): ListenerTlsFiles | undefined {
  if (s.TLS_CERT_FILE === undefined || s.TLS_KEY_FILE === undefined) return undefined;
  return Object.freeze({
    certFile: s.TLS_CERT_FILE,
    keyFile: s.TLS_KEY_FILE,
    clientCaFile: s.TLS_CLIENT_CA_FILE,
  });
}

/** Settings-checks has made sure that Sentinels come with a master name. */
function sentinelSettings(s: ParsedSettings): RedisSentinelSettings | undefined {
  if (s.REDIS_SENTINELS === undefined || s.REDIS_SENTINEL_MASTER === undefined) return undefined;
  return Object.freeze({
    sentinels: s.REDIS_SENTINELS,
    master: s.REDIS_SENTINEL_MASTER,
    password: s.REDIS_SENTINEL_PASSWORD,
  });
}

const DEFAULT_MAX_COOLDOWN_MS = 5000;

function adminSettings(s: ParsedSettings): AdminSettings | undefined {
  if (
    adminKeySources(s).length === 0 ||
    s.ADMIN_JWT_ISSUER === undefined ||
    s.ADMIN_JWT_AUDIENCE === undefined
  )
    return undefined;
  return Object.freeze({
    jwksFile: s.ADMIN_JWKS_FILE,
    jwksUrl: s.ADMIN_JWKS_URL,
    publicKeyFile: s.ADMIN_PUBLIC_KEY_FILE,
    issuer: s.ADMIN_JWT_ISSUER,
    audience: s.ADMIN_JWT_AUDIENCE,
    maxLifetimeS: s.ADMIN_JWT_MAX_LIFETIME_S,
    clockToleranceS: s.ADMIN_JWT_CLOCK_TOLERANCE_S,
  });
}

/** Empty strings count as unset, as in most deployment tooling. */
function nonEmpty(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of SETTING_NAMES) {
    const value = env[key];
    if (value !== undefined && value !== "") out[key] = value;
  }
  return out;
}

export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const result = SCHEMA.safeParse(nonEmpty(env));
  if (!result.success) throw new SettingsError(result.error.issues.map((i) => describe(i, env)));
  const s = result.data;
  const conflicts = conflictsOf(s);
  if (conflicts.length > 0) throw new SettingsError(conflicts);
  return Object.freeze({
    host: s.HOST,
    grpcPort: s.GRPC_PORT,
    httpPort: s.HTTP_PORT,
    adminGrpcPort: s.ADMIN_GRPC_PORT,
    tls: tlsFiles(s),
    http: Object.freeze({
      requestTimeoutMs: s.HTTP_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: s.HTTP_HEADERS_TIMEOUT_MS,
      idleTimeoutMs: s.HTTP_IDLE_TIMEOUT_MS,
      maxConnections: s.HTTP_MAX_CONNECTIONS,
    }),
    descriptorLimits: s.DESCRIPTOR_LIMIT_OVERRIDES,
    rulesPath: s.RULES_PATH,
    mergeDomainConfig: s.MERGE_DOMAIN_CONFIG,
    redisUrl: s.REDIS_URL,
    redisClusterNodes: s.REDIS_CLUSTER_NODES,
    redisSentinel: sentinelSettings(s),
    redisUsername: s.REDIS_USERNAME,
    redisPassword: s.REDIS_PASSWORD,
    redisTls: Object.freeze({
      enabled: redisTlsOn(s),
      caFile: s.REDIS_TLS_CA_FILE,
      certFile: s.REDIS_TLS_CERT_FILE,
      keyFile: s.REDIS_TLS_KEY_FILE,
    }),
    redisKeyPrefix: s.REDIS_KEY_PREFIX,
    redisTimeoutMs: s.REDIS_TIMEOUT_MS,
    redisIdlePingMs: s.REDIS_IDLE_PING_MS,
    localMaxBuckets: s.LOCAL_MAX_BUCKETS,
    fallbackDivisor: s.FALLBACK_DIVISOR,
    breakerFailures: s.BREAKER_FAILURES,
    breakerCooldownMs: s.BREAKER_COOLDOWN_MS,
    // Unset: 5 s, or the first wait when that is longer (a fixed cooldown, as before doubling).
    breakerMaxCooldownMs:
      s.BREAKER_MAX_COOLDOWN_MS ?? Math.max(DEFAULT_MAX_COOLDOWN_MS, s.BREAKER_COOLDOWN_MS),
    overLimitCacheSize: s.OVER_LIMIT_CACHE_SIZE,
    shadowMode: s.SHADOW_MODE,
    responseHeaders: s.RESPONSE_HEADERS,
    checkLimitDomain: s.CHECK_LIMIT_DOMAIN,
    databaseUrl: s.DATABASE_URL,
    databaseSchema: s.DATABASE_SCHEMA,
    adminDataDir: s.ADMIN_DATA_DIR,
    admin: adminSettings(s),
    overrideResyncMs: s.OVERRIDE_RESYNC_MS,
    auditChainKeyFile: s.AUDIT_CHAIN_KEY_FILE,
    logLevel: s.LOG_LEVEL,
    shutdownGraceMs: s.SHUTDOWN_GRACE_MS,
    workers: s.WORKERS,
  });
}

/** How the CLI reaches a TLS server: the CA to trust, and its own certificate for mTLS. */
export interface CliTls {
  /** TLS on: FLOODGATE_TLS=true, or any of the files below set. */
  readonly enabled: boolean;
  /** Trust this CA instead of the system's roots. */
  readonly caFile: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
}

/** What the operator CLI reads from the environment: where to call, and with which token. */
export interface CliEnvironment {
  readonly server: string;
  readonly token: string | undefined;
  readonly tls: CliTls;
}

export function loadCliEnvironment(env: Record<string, string | undefined> = process.env): CliEnvironment {
  const value = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === "" ? undefined : v;
  };
  const tls = {
    caFile: value("FLOODGATE_TLS_CA_FILE"),
    certFile: value("FLOODGATE_TLS_CERT_FILE"),
    keyFile: value("FLOODGATE_TLS_KEY_FILE"),
  };
  const files = tls.caFile !== undefined || tls.certFile !== undefined || tls.keyFile !== undefined;
  const flag = value("FLOODGATE_TLS");
  return Object.freeze({
    server: value("FLOODGATE_SERVER") ?? "127.0.0.1:8081",
    token: value("FLOODGATE_TOKEN"),
    tls: Object.freeze({ enabled: files || flag === "true" || flag === "1", ...tls }),
  });
}

/** ADMIN_JWT_MAX_LIFETIME_S as `serve` reads it, for `admin token` to warn when --ttl exceeds it. */
export interface TokenLifetimeLimit {
  readonly maxLifetimeS: number;
  /** Unset in this environment: the default, which the server's own setting may override. */
  readonly isDefault: boolean;
}

export function loadTokenLifetimeLimit(
  env: Record<string, string | undefined> = process.env,
): TokenLifetimeLimit {
  const set = nonEmpty(env);
  const result = SCHEMA.pick({ ADMIN_JWT_MAX_LIFETIME_S: true }).safeParse(set);
  if (!result.success) throw new SettingsError(result.error.issues.map((i) => describe(i, env)));
  return Object.freeze({
    maxLifetimeS: result.data.ADMIN_JWT_MAX_LIFETIME_S,
    isDefault: set["ADMIN_JWT_MAX_LIFETIME_S"] === undefined,
  });
}
