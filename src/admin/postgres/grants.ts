import { FloodgateError } from "../../domain/errors.js";
import { isSqlName, quoteSchema } from "./pg-errors.js";

/**
 * What the application role (`serve`) needs on the schema: read, append, and change overrides;
 * nothing it could rewrite the audit log with (docs/audit-log.md, "Roles"). Owning the tables is
 * what lets a role disable their triggers, so it owns nothing. Every statement is idempotent.
 */
export function appRoleGrants(schema: string, role: string): string[] {
  const s = quoteSchema(schema);
  const r = quoteRole(role);
  return [
    `grant usage on schema ${s} to ${r}`,
    `grant select on ${s}.schema_migrations to ${r}`,
    `grant select, insert, update, delete on ${s}.overrides to ${r}`,
    `grant usage, select on sequence ${s}.overrides_id_seq to ${r}`,
    `grant select, insert on ${s}.audit_events, ${s}.audit_seals, ${s}.audit_checkpoints to ${r}`,
    `grant usage on sequence ${s}.audit_events_id_seq, ${s}.audit_checkpoints_id_seq to ${r}`,
  ];
}

/** A role name we are willing to splice into SQL: the rule of schema names. */
export function isRoleName(role: string): boolean {
  return isSqlName(role);
}

export const ROLE_NAME_RULE = "lower-case letters, digits and _ only";

/** Callers (`floodgate migrate --grant-to`) check isRoleName first: a bad one here is our bug. */
function quoteRole(role: string): string {
  if (!isRoleName(role)) throw new FloodgateError("INTERNAL", "invalid role name");
  return `"${role}"`;
}
