/**
 * Loads the Lua scripts (token-bucket.lua, refund.lua) once, at import.
 *
 * The script stays a real .lua file (its header is the contract, and editors and reviewers read
 * it as Lua). `tsc` copies only .ts files, so two locations are tried: next to this module (src/
 * under vitest, or dist/ once the build copies *.lua there) and, from dist/src/store/redis/, the
 * source tree the build came from. A missing file fails at startup, naming the paths tried,
 * never on the first request.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const FILE = "token-bucket.lua";

function candidates(file: string): URL[] {
  return [
    new URL(`./${file}`, import.meta.url),
    new URL(`../../../../src/store/redis/${file}`, import.meta.url),
  ];
}

/** The line that separates the body (math, no clock) from the production entry (reads TIME). */
export const ENTRY_MARKER = "-- @entry";

function load(file: string): string {
  const urls = candidates(file);
  for (const url of urls) {
    try {
      return readFileSync(url, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  const tried = urls.map((url) => fileURLToPath(url)).join(", ");
  throw new Error(`${file} not found (tried ${tried})`);
}

/** The production script: the body plus an entry that reads the clock with Redis TIME. */
export const TOKEN_BUCKET_LUA: string = load(FILE);

/** SHA1 of the production script, as EVALSHA wants it. */
export const TOKEN_BUCKET_SHA: string = luaSha(TOKEN_BUCKET_LUA);

/** Gives back the tokens of a cross-slot request that another slot denied (Redis Cluster). */
export const REFUND_LUA: string = load("refund.lua");

/** SHA1 of refund.lua. */
export const REFUND_SHA: string = luaSha(REFUND_LUA);

/** Everything before the entry: defines `evaluate(now)` and returns nothing by itself. */
export const TOKEN_BUCKET_BODY: string = bodyOf(TOKEN_BUCKET_LUA);

function bodyOf(script: string): string {
  const at = script.indexOf(`\n${ENTRY_MARKER}`);
  if (at < 0) throw new Error(`${FILE} lacks its "${ENTRY_MARKER}" line`);
  return script.slice(0, at + 1);
}

export function luaSha(script: string): string {
  return createHash("sha1").update(script).digest("hex");
}
