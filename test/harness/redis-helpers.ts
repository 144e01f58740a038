/**
 * Helpers for tests that share a Redis: unique key prefixes, cleaning up only one's own keys
 * (never FLUSHDB/FLUSHALL), and reading per-command call counts.
 */
import { randomBytes } from "node:crypto";
import type { Cluster, Redis } from "ioredis";

/** A prefix no other test run uses, e.g. `fgtest:3f9a1c2e7b4d:`. */
export function uniquePrefix(label = "t"): string {
  return `fgtest:${label}:${randomBytes(6).toString("hex")}:`;
}

/** Escapes the glob characters of a SCAN MATCH pattern. */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, (ch) => `\\${ch}`);
}

/** Deletes every key starting with `prefix` (SCAN + UNLINK); returns how many were deleted. */
export async function deleteByPrefix(client: Redis, prefix: string): Promise<number> {
  if (prefix.length < 4) throw new Error(`refusing to delete by the short prefix "${prefix}"`);
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${globLiteral(prefix)}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await client.unlink(...keys);
  } while (cursor !== "0");
  return deleted;
}

/**
 * Calls per command from INFO commandstats, keyed by lower-case name (Redis 7 subcommands look
 * like "script|load"). Commands never called are absent: read them with `?? 0`.
 */
export async function commandStats(client: Redis): Promise<Record<string, number>> {
  const info = await client.info("commandstats");
  const stats: Record<string, number> = {};
  for (const line of info.split("\r\n")) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) stats[match[1]!.toLowerCase()] = Number(match[2]);
  }
  return stats;
}

/** `after - before` per command, for the commands named. */
export function statsDelta(
  before: Record<string, number>,
  after: Record<string, number>,
  names: readonly string[],
): Record<string, number> {
  return Object.fromEntries(names.map((name) => [name, (after[name] ?? 0) - (before[name] ?? 0)]));
}

/**
 * Resolves once the client is ready, however many attempts it takes (a test's Redis may still be
 * starting; the server's own wait is firstConnection). For a Cluster, "ready" means the slot map
 * is loaded and CLUSTER INFO reports cluster_state:ok.
 */
export async function waitUntilReady(client: Redis | Cluster, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off("ready", onReady);
      reject(new Error(`Redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    function onReady(): void {
      clearTimeout(timer);
      resolve();
    }
    client.once("ready", onReady);
  });
}
