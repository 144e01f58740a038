import { FloodgateError } from "../../domain/errors.js";

/** Who made an admin call, from a verified JWT. */
export interface Principal {
  readonly sub: string;
  readonly iss: string;
  /** The token id, when the token has one (recorded in the audit log). */
  readonly jti: string | undefined;
  readonly scopes: ReadonlySet<string>;
}

export const SCOPE_ADMIN = "floodgate:admin";
export const SCOPE_READ = "floodgate:read";
export type Scope = typeof SCOPE_ADMIN | typeof SCOPE_READ;

/**
 * Why a token was refused. Bounded: it becomes the `result` label of
 * floodgate_admin_requests_total and a log field, never part of a client-visible message.
 */
export type AuthFailure =
  | "missing"
  | "malformed"
  | "oversized"
  | "algorithm"
  | "signature"
  | "unknown_key"
  | "expired"
  | "not_yet_valid"
  | "issuer"
  | "audience"
  | "lifetime"
  | "claims"
  | "key_source"
  // Write calls only (docs/admin-auth.md, "Single-use write tokens"):
  | "jti_required"
  | "replayed"
  | "replay_cache_full";

/** Every authentication failure carries this one message, whatever the cause. */
export const UNAUTHENTICATED_MESSAGE = "unauthenticated";

export class AuthError extends FloodgateError {
  readonly reason: AuthFailure;

  constructor(reason: AuthFailure, detail?: string) {
    super("UNAUTHENTICATED", UNAUTHENTICATED_MESSAGE, detail === undefined ? reason : `${reason}: ${detail}`);
    this.name = "AuthError";
    this.reason = reason;
  }
}

/**
 * What the token is for. A "write" token is single-use: its `jti` is required and is recorded
 * until the token expires, so the same token cannot make a second write on this process.
 */
export type TokenUse = "read" | "write";

export interface Authenticator {
  /** Verifies `authorization: Bearer <JWT>` for `use`; throws AuthError on any problem. */
  authenticate(authorization: string | undefined, use: TokenUse): Promise<Principal>;
}
