import { decodeProtectedHeader } from "jose";
import type { JWTPayload, JWTVerifyOptions } from "jose";
import type { AdminSettings } from "../../config/settings.js";
import type { JwksFetchFailure } from "./jwks-url.js";
import { JWKS_URL_DEFAULTS } from "./jwks-url.js";
import { loadKeySource } from "./key-sources.js";
import { DEFAULT_REPLAY_CACHE_SIZE, ReplayCache } from "./replay-cache.js";
import { classify, headerHints } from "./token-errors.js";
import { AuthError } from "./types.js";
import type { Authenticator, Principal, TokenUse } from "./types.js";

/**
 * Verifies admin JWTs (docs/admin-auth.md). Every failure is an AuthError with the one
 * client-visible message; the bounded `reason` and the log-only `detail` say what went wrong.
 */

/** Longest accepted `authorization` value. An admin JWT is a few hundred bytes; 8 KiB is lavish. */
export const MAX_AUTHORIZATION_LENGTH = 8 * 1024;

/** Knobs with safe defaults; the tests shorten the intervals and inject the clock. */
export interface AuthenticatorOptions {
  /** ADMIN_JWKS_URL: timeout of one fetch (default 5000 ms). */
  readonly fetchTimeoutMs?: number;
  /** ADMIN_JWKS_URL: after a fetch, how long before an unknown `kid` may trigger another (30 s). */
  readonly cooldownMs?: number;
  /** ADMIN_JWKS_URL: how long fetched keys are used before a refetch (10 min). */
  readonly cacheMaxAgeMs?: number;
  /** ADMIN_JWKS_URL: first wait after a failed fetch (1 s), doubling up to backoffMaxMs (60 s). */
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  /** ADMIN_JWKS_URL: how long past cacheMaxAgeMs the last good keys serve while fetches fail (20 min). */
  readonly maxStaleMs?: number;
  /** ADMIN_JWKS_URL: told about each failed fetch. */
  readonly onJwksFetchError?: (failure: JwksFetchFailure) => void;
  /** Live write-token ids remembered at once (10,000); beyond that, writes are refused. */
  readonly replayCacheSize?: number;
  /** Wall clock, ms (default Date.now): token times, the replay cache and the JWKS cache. */
  readonly now?: () => number;
}

export async function createAuthenticator(
  settings: AdminSettings,
  options: AuthenticatorOptions = {},
): Promise<Authenticator> {
  const { replayCacheSize, onJwksFetchError, now: clock, ...jwksTimings } = options;
  const now = clock ?? Date.now;
  const source = await loadKeySource(settings, {
    ...JWKS_URL_DEFAULTS,
    ...definedOnly(jwksTimings),
    now,
    onFetchError: onJwksFetchError,
  });
  const replay = new ReplayCache(replayCacheSize ?? DEFAULT_REPLAY_CACHE_SIZE, now);
  const verifyOptions = (): JWTVerifyOptions => ({
    algorithms: [...source.algorithms],
    issuer: settings.issuer,
    audience: settings.audience,
    requiredClaims: ["exp", "iat", "sub"],
    clockTolerance: settings.clockToleranceS,
    // Besides bounding the token's age, this makes jose refuse an `iat` in the future.
    maxTokenAge: settings.maxLifetimeS,
    currentDate: new Date(now()),
  });
  return {
    async authenticate(authorization: string | undefined, use: TokenUse): Promise<Principal> {
      const token = bearerToken(authorization);
      let payload: JWTPayload;
      try {
        refuseCritical(token);
        payload = await source.verify(token, verifyOptions());
      } catch (err) {
        const [reason, detail] = classify(err);
        throw new AuthError(reason, `${detail}${headerHints(token)}`);
      }
      const principal = principalFrom(payload, settings.maxLifetimeS);
      // Only a verified token reaches the cache: a forged one cannot use up a real token's jti.
      if (use === "write") {
        // jose accepts the token until exp plus the tolerance: the jti is kept as long.
        claimForWrite(replay, principal, ((payload.exp as number) + settings.clockToleranceS) * 1000);
      }
      return principal;
    },
  };
}

/** Drops undefined options, so that they do not overwrite the defaults. */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A write token is single-use on this process (docs/admin-auth.md, "Single-use write tokens"). */
function claimForWrite(replay: ReplayCache, principal: Principal, forgetAtMs: number): void {
  const { jti } = principal;
  if (jti === undefined || jti === "") {
    throw new AuthError("jti_required", "a write call needs a token with a jti (single-use)");
  }
  const result = replay.claim(jti, forgetAtMs);
  if (result === "replayed")
    throw new AuthError("replayed", `jti already used for a write (sub ${principal.sub})`);
  if (result === "full") {
    throw new AuthError(
      "replay_cache_full",
      "too many live write tokens; refusing rather than forgetting one",
    );
  }
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
