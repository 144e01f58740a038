import { createHash } from "node:crypto";

/**
 * The token ids (`jti`) that admin write calls have used, each kept until its token expires
 * (docs/admin-auth.md, "Single-use write tokens"). Bounded in entries; when every entry is still
 * live it fails closed: evicting a live id would let that token be replayed.
 *
 * Not an LRU cache (lru-cache and the like evict to make room, which is exactly what must not
 * happen here); a Map in insertion order with a sweep when full is all it takes.
 */
export type ClaimResult = "fresh" | "replayed" | "full";

/** Admin writes are rare; 10,000 live write tokens is far above any operator's or tool's pace. */
export const DEFAULT_REPLAY_CACHE_SIZE = 10_000;

export class ReplayCache {
  /** Digest of the jti → when it may be forgotten (ms). */
  private readonly entries = new Map<string, number>();
  /** No entry expires before this (ms): while it is ahead, a sweep could free nothing. */
  private earliestExpiry = Infinity;

  constructor(
    private readonly capacity: number = DEFAULT_REPLAY_CACHE_SIZE,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError("capacity must be a positive integer");
  }

  /**
   * Records `jti` until `forgetAtMs`, unless it is already recorded ("replayed") or the cache is
   * full of live entries ("full"). The id is stored as a digest, so a long jti costs no more.
   */
  claim(jti: string, forgetAtMs: number): ClaimResult {
    const id = createHash("sha256").update(jti).digest("base64url");
    const t = this.now();
    const known = this.entries.get(id);
    if (known !== undefined && known > t) return "replayed";
    if (known === undefined && this.entries.size >= this.capacity) this.sweep(t);
    if (known === undefined && this.entries.size >= this.capacity) return "full";
    this.entries.set(id, forgetAtMs);
    this.earliestExpiry = Math.min(this.earliestExpiry, forgetAtMs);
    return "fresh";
  }

  get size(): number {
    return this.entries.size;
  }

  private sweep(t: number): void {
    if (t < this.earliestExpiry) return;
    let earliest = Infinity;
    for (const [id, forgetAt] of this.entries) {
      if (forgetAt <= t) this.entries.delete(id);
      else earliest = Math.min(earliest, forgetAt);
    }
    this.earliestExpiry = earliest;
  }
}
