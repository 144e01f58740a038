import { createPublicKey } from "node:crypto";
import type { JsonWebKey } from "node:crypto";
import { readFile } from "node:fs/promises";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  importSPKI,
  jwtVerify,
} from "jose";
import type { JSONWebKeySet, JWTPayload, JWTVerifyOptions } from "jose";
import { SettingsError } from "../config/settings.js";
import type { AdminSettings } from "../config/settings.js";
import { ALLOWED_ALGORITHMS, algorithmForKey, errorMessage, normalizePublicPem } from "./keys.js";
import type { SigningAlgorithm } from "./keys.js";
import { AuthError } from "./types.js";
import type { AuthFailure, Authenticator, Principal } from "./types.js";

/**
 * Verifies admin JWTs (DESIGN §5). Every failure is an AuthError with the one client-visible
 * message; the bounded `reason` and the log-only `detail` say what really went wrong.
 */

/** Longest accepted `authorization` value. An admin JWT is a few hundred bytes; 8 KiB is lavish. */
export const MAX_AUTHORIZATION_LENGTH = 8 * 1024;

export interface AuthenticatorOptions {
  /** Timeout of one JWKS URL fetch (default 5000 ms). */
  readonly fetchTimeoutMs?: number;
  /** After a fetch, how long before an unknown `kid` may trigger another one (default 30 s). */
  readonly cooldownMs?: number;
  /** How long fetched keys are used before a refetch (default 10 min). */
  readonly cacheMaxAgeMs?: number;
}

interface KeySource {
  readonly algorithms: readonly SigningAlgorithm[];
  readonly verify: (token: string, options: JWTVerifyOptions) => Promise<JWTPayload>;
}

export async function createAuthenticator(
  settings: AdminSettings,
  options: AuthenticatorOptions = {},
): Promise<Authenticator> {
  const source = await loadKeySource(settings, options);
  const verifyOptions: JWTVerifyOptions = {
    algorithms: [...source.algorithms],
    issuer: settings.issuer,
    audience: settings.audience,
    requiredClaims: ["exp", "iat", "sub"],
    clockTolerance: settings.clockToleranceS,
    // Besides bounding the token's age, this makes jose refuse an `iat` in the future.
    maxTokenAge: settings.maxLifetimeS,
  };
  return {
    async authenticate(authorization: string | undefined): Promise<Principal> {
      const token = bearerToken(authorization);
      let payload: JWTPayload;
      try {
        refuseCritical(token);
        payload = await source.verify(token, verifyOptions);
      } catch (err) {
        const [reason, detail] = classify(err);
        throw new AuthError(reason, `${detail}${headerHints(token)}`);
      }
      return principalFrom(payload, settings.maxLifetimeS);
    },
  };
}

// --- key sources -------------------------------------------------------------------------------

async function loadKeySource(settings: AdminSettings, options: AuthenticatorOptions): Promise<KeySource> {
  if (settings.jwksFile !== undefined) return jwksFileSource(settings.jwksFile);
  if (settings.jwksUrl !== undefined) return jwksUrlSource(settings.jwksUrl, options);
  if (settings.publicKeyFile !== undefined) return publicKeySource(settings.publicKeyFile);
  throw new SettingsError(["ADMIN_JWKS_FILE, ADMIN_JWKS_URL, ADMIN_PUBLIC_KEY_FILE: none is set"]);
}

/** Runs a startup step; any failure stops the process with a message naming the variable. */
async function startupStep<T>(variable: string, path: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw new SettingsError([`${variable}: ${path}: ${errorMessage(err)}`]);
  }
}

/** Read once at startup: rotating keys means a restart (or use ADMIN_JWKS_URL). */
async function jwksFileSource(path: string): Promise<KeySource> {
  const jwks = await startupStep("ADMIN_JWKS_FILE", path, async () =>
    checkJwks(JSON.parse(await readFile(path, "utf8"))),
  );
  const getKey = createLocalJWKSet(jwks);
  return {
    algorithms: ALLOWED_ALGORITHMS,
    verify: async (token, options) => (await jwtVerify(token, getKey, options)).payload,
  };
}

/** jose caches the set, refetches after cacheMaxAge, and on an unknown kid at most once per cooldown. */
function jwksUrlSource(url: string, options: AuthenticatorOptions): KeySource {
  const getKey = createRemoteJWKSet(new URL(url), {
    timeoutDuration: options.fetchTimeoutMs ?? 5000,
    cooldownDuration: options.cooldownMs ?? 30_000,
    cacheMaxAge: options.cacheMaxAgeMs ?? 600_000,
  });
  return {
    algorithms: ALLOWED_ALGORITHMS,
    verify: async (token, options) => (await jwtVerify(token, getKey, options)).payload,
  };
}

/** One key, one algorithm (inferred from the key); a `kid` in the token is irrelevant and ignored. */
async function publicKeySource(path: string): Promise<KeySource> {
  const { key, alg } = await startupStep("ADMIN_PUBLIC_KEY_FILE", path, async () => {
    const normalized = normalizePublicPem(await readFile(path, "utf8"));
    return { key: await importSPKI(normalized.pem, normalized.alg), alg: normalized.alg };
  });
  return {
    algorithms: [alg],
    verify: async (token, options) => (await jwtVerify(token, key, options)).payload,
  };
}

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/**
 * The JWKS file is curated for Floodgate, so be strict: every key must be a public signing key
 * of an allowed type. A private or symmetric key in it is a leak or a mistake, never ignored.
 */
function checkJwks(value: unknown): JSONWebKeySet {
  const keys: unknown = isRecord(value) ? value.keys : undefined;
  if (!Array.isArray(keys) || keys.length === 0)
    throw new Error('expected {"keys": [...]} with at least one key');
  keys.forEach((jwk: unknown, index) => {
    const label = `key ${index}${isRecord(jwk) && typeof jwk.kid === "string" ? ` (kid ${jwk.kid})` : ""}`;
    try {
      checkJwk(jwk);
    } catch (err) {
      throw new Error(`${label}: ${errorMessage(err)}`);
    }
  });
  return value as JSONWebKeySet;
}

function checkJwk(jwk: unknown): void {
  if (!isRecord(jwk)) throw new Error("not a JSON object");
  if (PRIVATE_MEMBERS.some((member) => member in jwk)) {
    throw new Error("contains private or secret key material; publish public keys only");
  }
  if (jwk.use !== undefined && jwk.use !== "sig") throw new Error('"use" must be "sig"');
  const alg = algorithmForKey(createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }));
  if (jwk.alg !== undefined && jwk.alg !== alg) {
    throw new Error(`"alg" ${JSON.stringify(jwk.alg)} is not allowed for this key; use ${alg}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// --- the header --------------------------------------------------------------------------------

/** `Bearer` (any case), spaces, then three base64url segments (an empty third one reaches jose). */
const BEARER = /^bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i;

function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.trim() === "") throw new AuthError("missing");
  // Checked before any parsing, so an attacker cannot make us work on a huge value.
  if (authorization.length > MAX_AUTHORIZATION_LENGTH) {
    throw new AuthError("oversized", `${authorization.length} characters`);
  }
  const match = BEARER.exec(authorization.trim());
  if (match?.[1] === undefined) throw new AuthError("malformed", "expected Bearer and a compact JWS");
  return match[1];
}

/**
 * Floodgate implements no JWS extension, so a token that marks one as critical cannot be
 * understood (RFC 7515 §4.1.11). It is the token's problem, refused before any key is looked up:
 * jose would report it as "not supported", which reads like a key-source outage.
 */
function refuseCritical(token: string): void {
  let critical: unknown;
  try {
    critical = decodeProtectedHeader(token).crit;
  } catch {
    return; // an undecodable header is jose's to classify (malformed)
  }
  if (critical !== undefined)
    throw new AuthError("malformed", "critical header parameters are not supported");
}

// --- errors ------------------------------------------------------------------------------------

const CODE_REASONS: Readonly<Record<string, AuthFailure>> = {
  ERR_JOSE_ALG_NOT_ALLOWED: "algorithm",
  ERR_JWS_INVALID: "malformed",
  ERR_JWT_INVALID: "malformed",
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: "signature",
  ERR_JWKS_NO_MATCHING_KEY: "unknown_key",
  // A kid-less token against a set with several candidate keys: we cannot tell which is meant.
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: "unknown_key",
  ERR_JWT_EXPIRED: "expired",
};

/** Maps anything thrown while verifying to a bounded reason and a log detail. */
function classify(err: unknown): [AuthFailure, string] {
  if (err instanceof AuthError) return [err.reason, err.detail ?? ""];
  if (err instanceof errors.JWTClaimValidationFailed) {
    return [claimReason(err), `${err.code} (${err.claim}, ${err.reason}): ${err.message}`];
  }
  if (err instanceof errors.JOSEError) {
    // Unlisted codes (ERR_JWKS_TIMEOUT, ERR_JWKS_INVALID, ERR_JWK_INVALID, ERR_JOSE_NOT_SUPPORTED,
    // a non-200 from the JWKS URL) all come from the key side, not from the token.
    return [CODE_REASONS[err.code] ?? "key_source", `${err.code}: ${err.message}`];
  }
  // Not jose's: the JWKS fetch failed (refused, DNS), or a key could not be used (too small).
  const cause = err instanceof Error && err.cause !== undefined ? ` (${errorMessage(err.cause)})` : "";
  return ["key_source", `${errorMessage(err)}${cause}`];
}

/** alg and kid from the unverified header: for the log, they say which key the caller meant. */
function headerHints(token: string): string {
  try {
    const { alg, kid } = decodeProtectedHeader(token);
    const show = (value: unknown) => (value === undefined ? "-" : JSON.stringify(value).slice(0, 64));
    return ` [alg ${show(alg)}, kid ${show(kid)}]`;
  } catch {
    return "";
  }
}

function claimReason(err: errors.JWTClaimValidationFailed): AuthFailure {
  if (err.reason === "missing" || err.reason === "invalid") return "claims";
  switch (err.claim) {
    case "iss":
      return "issuer";
    case "aud":
      return "audience";
    case "nbf":
    case "iat": // issued in the future, beyond the clock tolerance
      return "not_yet_valid";
    default:
      return "claims";
  }
}

// --- the principal -----------------------------------------------------------------------------

function principalFrom(payload: JWTPayload, maxLifetimeS: number): Principal {
  const { sub, iss, jti, exp, iat } = payload;
  if (typeof sub !== "string" || sub === "") throw new AuthError("claims", "sub must be a non-empty string");
  if (jti !== undefined && typeof jti !== "string") throw new AuthError("claims", "jti must be a string");
  // jose has already required exp, iat (numbers) and iss (equal to the issuer); this narrows types.
  if (typeof exp !== "number" || typeof iat !== "number" || typeof iss !== "string" || exp <= iat) {
    throw new AuthError("claims", "exp must come after iat");
  }
  // A long-lived token is refused even while fresh: a leaked one must stop working soon.
  if (exp - iat > maxLifetimeS) {
    throw new AuthError("lifetime", `exp - iat is ${exp - iat} s, above the maximum of ${maxLifetimeS} s`);
  }
  return Object.freeze({ sub, iss, jti, scopes: scopesOf(payload) });
}

/** The union of OAuth `scope` and `scp`; each may be a space-separated string or an array. */
function scopesOf(payload: JWTPayload): ReadonlySet<string> {
  const scopes = new Set<string>();
  for (const claim of ["scope", "scp"] as const) {
    for (const scope of scopeList(payload[claim], claim)) scopes.add(scope);
  }
  return scopes;
}

function scopeList(value: unknown, claim: string): string[] {
  if (value === undefined) return [];
  const items: unknown[] | undefined =
    typeof value === "string" ? value.split(" ") : Array.isArray(value) ? (value as unknown[]) : undefined;
  if (items === undefined || !items.every((item): item is string => typeof item === "string")) {
    throw new AuthError("claims", `${claim} must be a string or an array of strings`);
  }
  return items.filter((item) => item !== "");
}
