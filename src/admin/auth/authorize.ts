import { FloodgateError } from "../../domain/errors.js";
import { SCOPE_ADMIN } from "./types.js";
import type { Principal, Scope } from "./types.js";

/** The one message for a missing scope: it names neither the scope nor what the caller holds. */
export const PERMISSION_DENIED_MESSAGE = "permission denied";

/** Whether the principal may act with `scope`; `floodgate:admin` implies `floodgate:read`. */
export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has(scope) || principal.scopes.has(SCOPE_ADMIN);
}

/** Throws PERMISSION_DENIED unless the principal holds `scope` (the detail is for the log only). */
export function requireScope(principal: Principal, scope: Scope): void {
  if (hasScope(principal, scope)) return;
  throw new FloodgateError("PERMISSION_DENIED", PERMISSION_DENIED_MESSAGE, `${principal.sub} lacks ${scope}`);
}
