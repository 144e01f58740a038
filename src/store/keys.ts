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
 * limit (docs/security.md, "Who may call what").
 *
 * The Redis Cluster hash tag is the domain plus the first entry: the per-user and
 * per-user-per-endpoint buckets of one request land in one slot, while different users spread
 * over the cluster. Every part is escaped (`%`, `{`, `}`, `|`, `=` as `%XX`), so that a value can
 * never move the hash tag or collide with another descriptor. In an escaped part `%` is always
 * followed by a digit (`%25`, `%7B`, `%7D`, `%7C`, `%3D`), so the markers `%L` (above) and `%H`
 * (below) never appear in one.
 *
 * Bounded whatever the input (docs/security.md, threat 7): a tag or a rest longer than 56
 * characters, or holding any character outside ASCII, is replaced by `%H` and 22 characters
 * (132 bits) of the SHA-256 of its escaped text. A key is thus at most the prefix plus 133 bytes in Redis (2 braces,
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
/** A character to escape, or one outside ASCII: one test finds both, so plain parts cost one. */
const SPECIAL = /[%{}|=\u0080-\uffff]/;
const NON_ASCII = /[\u0080-\uffff]/;
/** The longest tag or rest kept literally. */
export const MAX_LITERAL_SEGMENT = 56;
const DIGEST_MARK = "%H";
const LIMIT_MARK = "%L";
const DIGEST_CHARS = 22;

/**
 * The part escaped. When `literal`, undefined if it is too long or holds a character outside
 * ASCII: its segment will be digested.
 */
function keyPart(part: string, literal: boolean): string | undefined {
  if (literal && part.length > MAX_LITERAL_SEGMENT) return undefined;
  if (!SPECIAL.test(part)) return part;
  if (literal && NON_ASCII.test(part)) return undefined;
  return part.replace(ESCAPED, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The key's pieces, to be joined: `prefix`, `{`, the tag's 1 or 4 pieces (domain, then `|`, key,
 * `=`, value), `}`, then 4 pieces per other entry. When `literal`, undefined as soon as the tag
 * or the rest cannot stay literal (too long, or not ASCII).
 */
function keyParts(
  prefix: string,
  { domain, entries }: { domain: string; entries: readonly KeyEntry[] },
  literal: boolean,
): string[] | undefined {
  const escapedDomain = keyPart(domain, literal);
  if (escapedDomain === undefined) return undefined;
  const parts = [prefix, "{", escapedDomain];
  let segment = escapedDomain.length;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const key = keyPart(entry.key, literal);
    const value = keyPart(entry.value, literal);
    if (key === undefined || value === undefined) return undefined;
    if (i === 1) {
      parts.push("}");
      segment = 0;
    }
    parts.push("|", key, "=", value);
    segment += 2 + key.length + value.length;
    if (literal && segment > MAX_LITERAL_SEGMENT) return undefined;
  }
  if (literal && segment > MAX_LITERAL_SEGMENT) return undefined;
  if (entries.length <= 1) parts.push("}");
  return parts;
}

/** UTF-16 code units in, so that every JS string (even an ill-formed one) has its own digest. */
function bounded(segment: string): string {
  if (segment.length <= MAX_LITERAL_SEGMENT && !NON_ASCII.test(segment)) return segment;
  const digest = createHash("sha256").update(segment, "utf16le").digest("base64url");
  return DIGEST_MARK + digest.slice(0, DIGEST_CHARS);
}

function digestedKey(parts: readonly string[]): string {
  const tagEnd = parts.length === 4 ? 3 : 7;
  const tag = parts.slice(2, tagEnd).join("");
  const rest = parts.slice(tagEnd + 1).join("");
  return [parts[0], "{", bounded(tag), "}", bounded(rest)].join("");
}

/**
 * Built with join, not concatenation: concatenation leaves a tree of V8 cons strings that a Map
 * key keeps alive whole (measured: 440 bytes per in-memory bucket, against 169 with a flat key).
 * Most keys are short and ASCII, built once; the others are built again, then digested.
 */
export function bucketKey(prefix: string, domain: string, entries: readonly KeyEntry[]): string {
  const literal = keyParts(prefix, { domain, entries }, true);
  return literal?.join("") ?? digestedKey(keyParts(prefix, { domain, entries }, false)!);
}

/** The bucket of a descriptor `limit` override: the key the rules use for it, plus that limit. */
export function limitBucketKey(key: string, limit: KeyLimit): string {
  return [key, LIMIT_MARK, String(limit.requestsPerUnit), "/", limit.unit].join("");
}
