import { createHash } from "node:crypto";

/**
 * Bucket keys: `<prefix>{<tag>}<rest>`, where
 *
 * - the tag is `<domain>|<k1>=<v1>`: the domain and the first entry (just `<domain>` with none);
 * - the rest is `|<k2>=<v2>|<k3>=<v3>...` for the other entries;
 * - and `%L<requests_per_unit>/<unit>` at the end when a descriptor `limit` override decides the
 *   bucket (limitBucketKey).
 *
 * The key names the domain and the matched descriptor values, never the limit, so a changed limit
 * keeps its bucket (DESIGN §2). The one exception is Envoy's per-descriptor `limit`, chosen by
 * the caller: its bucket is keyed by that limit too, so that no caller can reach the bucket the
 * rules (or an operator's override) decide for the same descriptor and refill it with a huge
 * limit (issue 10, item 1).
 *
 * The Redis Cluster hash tag is the domain plus the first entry: the per-user and
 * per-user-per-endpoint buckets of one request land in one slot, while different users spread
 * over the cluster. Every part is escaped (`%`, `{`, `}`, `|`, `=` as `%XX`), so that a value can
 * never move the hash tag or collide with another descriptor; an escaped part therefore never
 * contains `%` followed by a letter other than A to F, which the two markers below use.
 *
 * Bounded whatever the input (issue 10, item 7): a tag or a rest longer than 56 characters, or
 * holding any character outside ASCII, is replaced by `%H` and 22 characters (132 bits) of the
 * SHA-256 of its escaped text. A key is thus at most the prefix plus 133 bytes in Redis (2 braces,
 * 2 × 56, and a limit of at most 19; all ASCII: one byte each in UTF-8 and in V8's heap), so at
 * most 197 bytes with a 64-character prefix, and the same tag still gives the same slot. A digest
 * never equals a literal segment (a literal never contains `%H`), and two segments share a digest
 * only by a SHA-256 collision. Short ASCII keys are exactly what they were before digests.
 */
export interface KeyEntry {
  readonly key: string;
  readonly value: string;
}

/** A descriptor `limit` override, which names its own bucket. */
export interface KeyLimit {
  readonly requestsPerUnit: number;
  readonly unit: string;
}

const ESCAPED = /[%{}|=]/g;
const NEEDS_ESCAPING = /[%{}|=]/;
const NON_ASCII = /[\u0080-\uffff]/;
/** The longest tag or rest kept literally. */
export const MAX_LITERAL_SEGMENT = 56;
const DIGEST_MARK = "%H";
const LIMIT_MARK = "%L";
const DIGEST_CHARS = 22;

/** Most parts need no escaping; testing first skips replace()'s per-call setup on the hot path. */
function escapePart(part: string): string {
  if (!NEEDS_ESCAPING.test(part)) return part;
  return part.replace(ESCAPED, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** UTF-16 code units in, so that every JS string (even an ill-formed one) has its own digest. */
function bounded(segment: string): string {
  if (segment.length <= MAX_LITERAL_SEGMENT && !NON_ASCII.test(segment)) return segment;
  const digest = createHash("sha256").update(segment, "utf16le").digest("base64url");
  return DIGEST_MARK + digest.slice(0, DIGEST_CHARS);
}

function tagOf(domain: string, first: KeyEntry | undefined): string {
  if (first === undefined) return escapePart(domain);
  return [escapePart(domain), "|", escapePart(first.key), "=", escapePart(first.value)].join("");
}

function restOf(entries: readonly KeyEntry[]): string {
  if (entries.length <= 1) return "";
  const parts: string[] = [];
  for (let i = 1; i < entries.length; i++) {
    const entry = entries[i]!;
    parts.push("|", escapePart(entry.key), "=", escapePart(entry.value));
  }
  return parts.join("");
}

/**
 * Built with join, not concatenation: concatenation leaves a tree of V8 cons strings that a Map
 * key keeps alive whole (measured: 440 bytes per in-memory bucket, against 169 with a flat key).
 */
export function bucketKey(prefix: string, domain: string, entries: readonly KeyEntry[]): string {
  return [prefix, "{", bounded(tagOf(domain, entries[0])), "}", bounded(restOf(entries))].join("");
}

/** The bucket of a descriptor `limit` override: the key the rules use for it, plus that limit. */
export function limitBucketKey(key: string, limit: KeyLimit): string {
  return [key, LIMIT_MARK, String(limit.requestsPerUnit), "/", limit.unit].join("");
}
