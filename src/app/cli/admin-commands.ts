import { readFile } from "node:fs/promises";
import { jwksFromPublicKeyPem, mintToken } from "../../admin/auth/mint.js";
import { loadCliEnvironment, loadTokenLifetimeLimit } from "../../config/settings.js";
import { parseUnit, UNITS } from "../../domain/units.js";
import { createAdminClient, protoTimeFromDate, protoUnitNumber } from "../../transport/grpc/admin-client.js";
import type { Options, Values } from "./args.js";
import { date, entries, int, parseFlags, required, seconds, str, UsageError } from "./args.js";
import { clientTls, TLS_FLAGS } from "./client-tls.js";

/**
 * `floodgate admin …`: operator commands. They mint tokens locally and otherwise call the gRPC
 * Admin API (FLOODGATE_SERVER, default 127.0.0.1:8081; FLOODGATE_TOKEN or --token). Output is JSON
 * on stdout; warnings and failures go to stderr. Each command resolves to its exit code.
 */
export const ADMIN_USAGE = `Usage: floodgate admin <command>

  token --private-key FILE --issuer ISS --audience AUD --subject SUB
        [--scope floodgate:admin] [--ttl 15m] [--kid KID]     mint a short-lived token;
        warns when --ttl exceeds ADMIN_JWT_MAX_LIFETIME_S (default 3600)
  jwks --public-key FILE [--kid KID]                         print a JWKS for ADMIN_JWKS_FILE
  override set TARGET --rpu N --unit UNIT [--burst N]
        [--expires-in 1h | --expires-at ISO] --reason TEXT
  override delete TARGET --reason TEXT
  override list [--domain D] [--page-size N] [--page-token T]
  bucket get TARGET
  bucket reset TARGET --reason TEXT
  audit [--since ISO] [--until ISO] [--actor SUB] [--action A] [--page-size N] [--page-token T]
  audit --verify [--full] [--expect-head ID:HASH]        check the chain from the last
        checkpoint (--full: from the first row); prints head_id and head_hash to export;
        exits 1 when the chain is broken, naming the row and the problem on stderr

  TARGET is --domain D --entry key=value [--entry key=value ...], or --user U and/or
  --endpoint E (CheckLimit's domain). Common: --server HOST:PORT, --token JWT.
  TLS: --tls (trust the system's CAs), --ca FILE (trust this CA instead), --cert FILE --key FILE
  (a client certificate, for mTLS), --server-name NAME (the name in the server's certificate,
  when --server is an IP or a port-forward); or FLOODGATE_TLS, FLOODGATE_TLS_CA_FILE,
  FLOODGATE_TLS_CERT_FILE, FLOODGATE_TLS_KEY_FILE.`;

const COMMON: Options = { server: { type: "string" }, token: { type: "string" }, ...TLS_FLAGS };
const TARGET: Options = {
  domain: { type: "string" },
  entry: { type: "string", multiple: true },
  user: { type: "string" },
  endpoint: { type: "string" },
};
const PAGE: Options = { "page-size": { type: "string" }, "page-token": { type: "string" } };

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function target(values: Values) {
  return {
    domain: str(values, "domain") ?? "",
    entries: entries(values),
    user_id: str(values, "user") ?? "",
    endpoint: str(values, "endpoint") ?? "",
  };
}

function unit(values: Values): number {
  const parsed = parseUnit(required(values, "unit"));
  if (parsed === undefined) throw new UsageError(`--unit must be one of ${UNITS.join(", ")}`);
  return protoUnitNumber(parsed);
}

/** Calls the Admin API and prints its answer as JSON on stdout; returns the answer. */
async function askAdmin(values: Values, method: string, request: object): Promise<unknown> {
  const env = loadCliEnvironment();
  const token = str(values, "token") ?? env.token;
  if (token === undefined) throw new UsageError("a token is required: --token or FLOODGATE_TOKEN");
  const tls = await clientTls(values, env.tls);
  const client = createAdminClient({ address: str(values, "server") ?? env.server, token, tls });
  try {
    const answer = await client.call(method, request);
    print(answer);
    return answer;
  } finally {
    client.close();
  }
}

/** As askAdmin, for answers that report no failure of their own: exit code 0. */
async function callAdmin(values: Values, method: string, request: object): Promise<number> {
  await askAdmin(values, method, request);
  return 0;
}

const DEFAULT_TTL = "15m";

/** Still mints (the server's maximum may differ from this environment's), but says what will happen. */
function warnAboveMaxLifetime(ttl: string, ttlSeconds: number): void {
  const { maxLifetimeS, isDefault } = loadTokenLifetimeLimit();
  if (ttlSeconds <= maxLifetimeS) return;
  process.stderr.write(
    `floodgate: warning: --ttl ${ttl} is ${ttlSeconds} s, above ADMIN_JWT_MAX_LIFETIME_S ` +
      `(${maxLifetimeS} s${isDefault ? ", the default" : ""}): a server with that maximum refuses ` +
      `this token as unauthenticated (reason lifetime)\n`,
  );
}

async function token(args: string[]): Promise<number> {
  const values = parseFlags(args, {
    "private-key": { type: "string" },
    issuer: { type: "string" },
    audience: { type: "string" },
    subject: { type: "string" },
    scope: { type: "string", multiple: true },
    ttl: { type: "string" },
    kid: { type: "string" },
  });
  const scopes = values["scope"];
  const ttl = str(values, "ttl");
  const ttlSeconds = seconds({ ttl: ttl ?? DEFAULT_TTL }, "ttl")!;
  const jwt = await mintToken({
    privateKeyPem: await readFile(required(values, "private-key"), "utf8"),
    issuer: required(values, "issuer"),
    audience: required(values, "audience"),
    subject: required(values, "subject"),
    scopes: Array.isArray(scopes) ? scopes : ["floodgate:admin"],
    ttlSeconds,
    ...(str(values, "kid") === undefined ? {} : { kid: str(values, "kid")! }),
  });
  warnAboveMaxLifetime(ttl ?? `${DEFAULT_TTL} (the default)`, ttlSeconds);
  process.stdout.write(`${jwt}\n`);
  return 0;
}

async function jwks(args: string[]): Promise<number> {
  const values = parseFlags(args, { "public-key": { type: "string" }, kid: { type: "string" } });
  print(
    await jwksFromPublicKeyPem(await readFile(required(values, "public-key"), "utf8"), str(values, "kid")),
  );
  return 0;
}

async function override(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const values = parseFlags(rest, {
    ...COMMON,
    ...TARGET,
    ...PAGE,
    rpu: { type: "string" },
    unit: { type: "string" },
    burst: { type: "string" },
    "expires-in": { type: "string" },
    "expires-at": { type: "string" },
    reason: { type: "string" },
  });
  if (sub === "set") {
    const expiresIn = seconds(values, "expires-in");
    const expiresAt =
      expiresIn === undefined ? date(values, "expires-at") : new Date(Date.now() + expiresIn * 1000);
    const limit = {
      requests_per_unit: int(values, "rpu") ?? 0,
      unit: unit(values),
      burst: int(values, "burst") ?? 0,
    };
    if (int(values, "rpu") === undefined) throw new UsageError("--rpu is required");
    const request = {
      target: target(values),
      limit,
      expires_at: protoTimeFromDate(expiresAt),
      reason: required(values, "reason"),
    };
    return callAdmin(values, "SetOverride", request);
  }
  if (sub === "delete") {
    return callAdmin(values, "DeleteOverride", {
      target: target(values),
      reason: required(values, "reason"),
    });
  }
  if (sub === "list") {
    const request = {
      domain: str(values, "domain") ?? "",
      page_size: int(values, "page-size") ?? 0,
      page_token: str(values, "page-token") ?? "",
    };
    return callAdmin(values, "ListOverrides", request);
  }
  throw new UsageError(`unknown override command ${JSON.stringify(sub ?? "")}`);
}

async function bucket(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const values = parseFlags(rest, { ...COMMON, ...TARGET, reason: { type: "string" } });
  if (sub === "get") return callAdmin(values, "GetBucket", { target: target(values) });
  if (sub === "reset")
    return callAdmin(values, "ResetBucket", { target: target(values), reason: required(values, "reason") });
  throw new UsageError(`unknown bucket command ${JSON.stringify(sub ?? "")}`);
}

/** `--expect-head ID:HASH`, as printed by an earlier `--verify` (head_id, head_hash). */
function verifyRequest(values: Values) {
  const head = str(values, "expect-head");
  const match = head === undefined ? undefined : /^([^:]+):([^:]+)$/.exec(head);
  if (match === null)
    throw new UsageError("--expect-head must be ID:HASH (head_id and head_hash of an earlier --verify)");
  return {
    full: values["full"] === true,
    expect_head_id: match?.[1] ?? "",
    expect_head_hash: match?.[2] ?? "",
  };
}

/** The fields of VerifyAuditLog's answer that decide the exit code. */
interface VerifyAnswer {
  readonly ok: boolean;
  readonly first_broken_id: string;
  readonly problem: string;
}

/**
 * A broken chain exits 1 (for cron jobs and CI), naming the row and the problem on stderr; the
 * answer stays on stdout for scripts.
 */
function verifyExitCode(answer: unknown): number {
  const verified = answer as VerifyAnswer;
  if (verified.ok) return 0;
  const row = verified.first_broken_id || "?";
  process.stderr.write(`floodgate: audit log chain broken at row ${row}: ${verified.problem}\n`);
  return 1;
}

async function audit(args: string[]): Promise<number> {
  const values = parseFlags(args, {
    ...COMMON,
    ...PAGE,
    verify: { type: "boolean" },
    full: { type: "boolean" },
    "expect-head": { type: "string" },
    since: { type: "string" },
    until: { type: "string" },
    actor: { type: "string" },
    action: { type: "string" },
  });
  if (values["verify"] === true)
    return verifyExitCode(await askAdmin(values, "VerifyAuditLog", verifyRequest(values)));
  return callAdmin(values, "ListAuditEvents", {
    since: protoTimeFromDate(date(values, "since")),
    until: protoTimeFromDate(date(values, "until")),
    actor: str(values, "actor") ?? "",
    action: str(values, "action") ?? "",
    page_size: int(values, "page-size") ?? 0,
    page_token: str(values, "page-token") ?? "",
  });
}

const COMMANDS: Readonly<Record<string, (args: string[]) => Promise<number>>> = {
  token,
  jwks,
  override,
  bucket,
  audit,
};

export async function adminCommand(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  const command = name === undefined ? undefined : COMMANDS[name];
  if (command === undefined) throw new UsageError(ADMIN_USAGE);
  return command(rest);
}
