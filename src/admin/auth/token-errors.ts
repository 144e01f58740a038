import { decodeProtectedHeader, errors } from "jose";
import { errorWithCause } from "./keys.js";
import { AuthError } from "./types.js";
import type { AuthFailure } from "./types.js";

/** From anything thrown while verifying a token to a bounded reason and a log-only detail. */

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

export function classify(err: unknown): [AuthFailure, string] {
  if (err instanceof AuthError) return [err.reason, err.detail ?? ""];
  if (err instanceof errors.JWTClaimValidationFailed) {
    return [claimReason(err), `${err.code} (${err.claim}, ${err.reason}): ${err.message}`];
  }
  if (err instanceof errors.JOSEError) {
    // Unlisted codes (ERR_JWKS_TIMEOUT, ERR_JWKS_INVALID, ERR_JWK_INVALID, ERR_JOSE_NOT_SUPPORTED,
    // a non-200 from the JWKS URL) all come from the key side, not from the token.
    return [CODE_REASONS[err.code] ?? "key_source", `${err.code}: ${err.message}`];
  }
  // Not jose's: the JWKS URL is unusable (refused, DNS, backing off), or a key is (too small).
  return ["key_source", errorWithCause(err)];
}

/** alg and kid from the unverified header: for the log, they say which key the caller meant. */
export function headerHints(token: string): string {
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
