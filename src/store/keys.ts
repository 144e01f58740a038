import { createHash } from "node:crypto";
import type { BucketCheck, BucketId, KeyedCheck } from "../domain/bucket.js";

/**
 * Bucket keys, built by the stores from a bucket's identity (BucketId): `<prefix>{<tag>}<rest>`,
 * where
 *
 * - the prefix is the store's own (REDIS_KEY_PREFIX for Redis, none in process);
 * - the tag is `<domain>|<k1>=<v1>`: the domain and the first entry (just `<domain>` with none);
 * - the rest is `|<k2>=<v2>|<k3>=<v3>...` for the other entries;
 * - and `%L<requests_per_unit>/<unit>` at the end when Envoy's descriptor `limit` decides the
 *   bucket.
 *
 * The key names the domain and the matched descriptor values, never the limit, so a changed limit
 * keeps its bucket (README, "Rules"). The one exception is Envoy's per-descriptor `limit`, chosen by
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
 * (132 bits) of the SHA-256 of its raw parts (digestOf). A key is thus at most the prefix plus
 * 133 bytes in Redis (2 braces, 2 × 56, and a limit of at most 19; all ASCII: one byte each in
 * UTF-8 and in V8's heap), so at most 197 bytes with a 64-character prefix, and the same tag still
 * gives the same slot. A digest never equals a literal segment (a literal never contains `%H`),
 * and two segments share a digest only by a SHA-256 collision. Short ASCII keys are exactly what they were before digests.
 */
const ESCAPED = /[%{}|=]/g;
/** A character to escape, or one outside ASCII: one test finds both, so plain parts cost one. */
const SPECIAL = /[%{}|=\u0080-\uffff]/;
const NON_ASCII = /[\u0080-\uffff]/;
/** The longest tag or rest kept literally. */
export const MAX_LITERAL_SEGMENT = 56;
const DIGEST_MARK = "%H";
const LIMIT_MARK = "%L";
const DIGEST_CHARS = 22;

/** A short ASCII part escaped, or undefined for a part outside ASCII (its segment is digested). */
function escapedPart(part: string): string | undefined {
  if (!SPECIAL.test(part)) return part;
  if (NON_ASCII.test(part)) return undefined;
  return part.replace(ESCAPED, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * `%H` and the SHA-256 of the segment's raw parts, each with its length in front, so that the
 * encoding is unambiguous without escaping anything: a hostile value of 500,000 characters to
 * escape is hashed, never rewritten one character at a time (docs/security.md, threat 2). UTF-16
 * code units in, so that every JS string (even an ill-formed one) has its own digest.
 */
function digestOf(raw: readonly string[]): string {
  const hash = createHash("sha256");
  for (const part of raw) hash.update(`${part.length}:`).update(part, "utf16le");
  return DIGEST_MARK + hash.digest("base64url").slice(0, DIGEST_CHARS);
}

/**
 * A tag (`domain` or `domain|key=value`) or a rest (`|key=value` per entry): literal when it is
 * ASCII and at most MAX_LITERAL_SEGMENT characters once escaped, digested otherwise. A part too
 * long for any literal is never escaped: the length check comes first.
 */
function segment(raw: readonly string[], isTag: boolean): string {
  let length = 0;
  for (const part of raw) length += part.length;
  if (length > MAX_LITERAL_SEGMENT) return digestOf(raw);
  const pieces: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const part = escapedPart(raw[i]!);
    if (part === undefined) return digestOf(raw);
    // The tag is domain|key=value; the rest |key=value|key=value...: a separator before each part
    // but the tag's first, `|` before a key and `=` before a value.
    const keyAt = isTag ? i % 2 === 1 : i % 2 === 0;
    if (i > 0 || !isTag) pieces.push(keyAt ? "|" : "=");
    pieces.push(part);
  }
  const text = pieces.join("");
  return text.length > MAX_LITERAL_SEGMENT ? digestOf(raw) : text;
}

/**
 * The key of `bucket` under `prefix`. Built with one join, not concatenation: concatenation leaves
 * a tree of V8 cons strings that a Map key keeps alive whole (measured: 440 bytes per in-memory
 * bucket, against 169 with a flat key).
 */
export function bucketKey(bucket: BucketId, prefix = ""): string {
  const { domain, entries, descriptorLimit } = bucket;
  const first = entries[0];
  const tag = first === undefined ? [domain] : [domain, first.key, first.value];
  const rest: string[] = [];
  for (let i = 1; i < entries.length; i++) rest.push(entries[i]!.key, entries[i]!.value);
  const parts = [prefix, "{", segment(tag, true), "}", segment(rest, false)];
  if (descriptorLimit !== undefined) {
    parts.push(LIMIT_MARK, String(descriptorLimit.requestsPerUnit), "/", descriptorLimit.unit);
  }
  return parts.join("");
}

/** The checks on their keys under `prefix`, in order. */
export function keyedChecks(checks: readonly BucketCheck[], prefix: string): KeyedCheck[] {
  return checks.map(({ bucket, spec, cost, shadow }) => ({
    key: bucketKey(bucket, prefix),
    spec,
    cost,
    shadow,
  }));
}
