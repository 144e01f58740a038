import { FloodgateError, isFloodgateError } from "../../domain/errors.js";

export const UNAVAILABLE_MESSAGE = "audit store unavailable";

/** A name we are willing to splice into SQL (the rule of DATABASE_SCHEMA, and of role names). */
const SQL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function isSqlName(name: string): boolean {
  return SQL_NAME.test(name);
}

/** Settings checked the name already: a bad one here is our bug. */
export function quoteSchema(schema: string): string {
  if (!isSqlName(schema)) throw new FloodgateError("INTERNAL", "invalid database schema name");
  return `"${schema}"`;
}

/** Strings that must never reach a log line: the password and the whole URL. */
export function secretsOf(connectionString: string): string[] {
  const secrets = [connectionString];
  try {
    const password = decodeURIComponent(new URL(connectionString).password);
    if (password !== "") secrets.push(password, encodeURIComponent(password));
  } catch {
    // not a URL: the whole string is already listed
  }
  return secrets;
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret !== "") out = out.split(secret).join("***");
  return out;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const prefix = typeof code === "string" ? `${code} ` : "";
    return `${prefix}${error.name}: ${error.message}`;
  }
  return String(error);
}

/**
 * Any failure below us becomes UNAVAILABLE with the cause in `detail` (server log only, scrubbed
 * of the password). Our own FloodgateErrors (e.g. a bad page token) pass through unchanged.
 */
export function toFloodgateError(error: unknown, secrets: readonly string[]): FloodgateError {
  if (isFloodgateError(error)) return error;
  return new FloodgateError("UNAVAILABLE", UNAVAILABLE_MESSAGE, redact(describe(error), secrets));
}
