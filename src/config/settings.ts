import { join } from "node:path";
import { z } from "zod";
import { PACKAGE_ROOT } from "./paths.js";

/**
 * The only reader of process.env (DESIGN §6, style rule 6): every variable is parsed and
 * validated once at startup, and the frozen result is passed down. An invalid value stops the
 * process with a message that names the variable (and never echoes a secret).
 */
const bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
const port = z.coerce.number().int().min(0).max(65_535);
const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);

const redisUrl = z
  .string()
  .refine((v) => /^rediss?:\/\//.test(v) && URL.canParse(v), "must be a redis:// or rediss:// URL");

const SCHEMA = z.object({
  HOST: z.string().min(1).default("0.0.0.0"),
  GRPC_PORT: port.default(8081),
  HTTP_PORT: port.default(8080),
  RULES_PATH: z
    .string()
    .min(1)
    .default(join(PACKAGE_ROOT, "deploy", "rules")),
  REDIS_URL: redisUrl.optional(),
  REDIS_KEY_PREFIX: z.string().max(64).default("fg:"),
  REDIS_TIMEOUT_MS: positiveInt(10_000).default(8),
  LOCAL_MAX_BUCKETS: positiveInt(100_000_000).default(100_000),
  SHADOW_MODE: bool.default(false),
  RESPONSE_HEADERS: bool.default(false),
  CHECK_LIMIT_DOMAIN: z.string().min(1).max(256).default("api"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
});

/** Variables whose values must never appear in a message. */
const SECRET_VARIABLES = new Set(["REDIS_URL"]);

type Parsed = z.infer<typeof SCHEMA>;

export interface Settings {
  readonly host: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly rulesPath: string;
  readonly redisUrl: string | undefined;
  readonly redisKeyPrefix: string;
  readonly redisTimeoutMs: number;
  readonly localMaxBuckets: number;
  readonly shadowMode: boolean;
  readonly responseHeaders: boolean;
  readonly checkLimitDomain: string;
  readonly logLevel: Parsed["LOG_LEVEL"];
  readonly shutdownGraceMs: number;
}

export class SettingsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid settings:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "SettingsError";
  }
}

function describe(issue: z.core.$ZodIssue, env: Record<string, string | undefined>): string {
  const name = String(issue.path[0] ?? "?");
  const raw = env[name];
  const shown = SECRET_VARIABLES.has(name) || raw === undefined ? "" : ` (got ${JSON.stringify(raw)})`;
  return `${name}: ${issue.message}${shown}`;
}

/** Empty strings count as unset, as in most deployment tooling. */
function nonEmpty(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(SCHEMA.shape)) {
    const value = env[key];
    if (value !== undefined && value !== "") out[key] = value;
  }
  return out;
}

export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const result = SCHEMA.safeParse(nonEmpty(env));
  if (!result.success) throw new SettingsError(result.error.issues.map((i) => describe(i, env)));
  const s = result.data;
  return Object.freeze({
    host: s.HOST,
    grpcPort: s.GRPC_PORT,
    httpPort: s.HTTP_PORT,
    rulesPath: s.RULES_PATH,
    redisUrl: s.REDIS_URL,
    redisKeyPrefix: s.REDIS_KEY_PREFIX,
    redisTimeoutMs: s.REDIS_TIMEOUT_MS,
    localMaxBuckets: s.LOCAL_MAX_BUCKETS,
    shadowMode: s.SHADOW_MODE,
    responseHeaders: s.RESPONSE_HEADERS,
    checkLimitDomain: s.CHECK_LIMIT_DOMAIN,
    logLevel: s.LOG_LEVEL,
    shutdownGraceMs: s.SHUTDOWN_GRACE_MS,
  });
}
