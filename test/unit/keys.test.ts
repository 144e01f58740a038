import calculateSlot from "cluster-key-slot";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { KeyEntry, KeyLimit } from "../../src/store/keys.js";
import { bucketKey, limitBucketKey, MAX_LITERAL_SEGMENT } from "../../src/store/keys.js";

/** The Redis Cluster hash tag: what lies between the first `{` and the next `}`. */
const hashTag = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];
const bytes = (key: string) => Buffer.byteLength(key, "utf8");

/**
 * Characters that stress the format: every escaped one, the markers' letters, the tag's edges,
 * Latin-1 and astral characters (2 and 4 bytes in UTF-8), lone surrogates, and anything else.
 */
const unit = fc.oneof(
  fc.constantFrom("{", "}", "|", "=", "%", "H", "L", "7", "B", "a", "/", "é", "😀", "\uD800", "\uDC00", "\0"),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
);
const text = (minLength: number, maxLength: number) => fc.string({ unit, minLength, maxLength });
/** Short strings most of the time (the literal/digest boundary), sometimes the documented maximum. */
const sized = (minLength: number, maxLength: number) =>
  fc.oneof(
    { weight: 4, arbitrary: text(minLength, Math.min(maxLength, MAX_LITERAL_SEGMENT + 8)) },
    { weight: 1, arbitrary: text(minLength, maxLength) },
  );
const entry: fc.Arbitrary<KeyEntry> = fc.record({ key: sized(1, 256), value: sized(0, 1024) });
const limit: fc.Arbitrary<KeyLimit | undefined> = fc.option(
  fc.record({
    requestsPerUnit: fc.integer({ min: 0, max: 4_294_967_295 }),
    unit: fc.constantFrom("second", "minute", "hour", "day", "month", "year"),
  }),
  { nil: undefined },
);
const input = fc.record({
  domain: sized(1, 256),
  entries: fc.array(entry, { maxLength: 16 }),
  limit,
});
/** REDIS_KEY_PREFIX: up to 64 characters; ASCII, as operators write it. */
const prefix = fc.string({ unit: "binary-ascii", maxLength: 64 });

/** The key plan.ts builds: with the limit when a descriptor `limit` override decides. */
function keyOf(p: string, i: { domain: string; entries: readonly KeyEntry[]; limit: KeyLimit | undefined }) {
  const key = bucketKey(p, i.domain, i.entries);
  return i.limit === undefined ? key : limitBucketKey(key, i.limit);
}

describe("bucket keys", () => {
  it("name the domain and the descriptor values, with the first entry in the hash tag", () => {
    expect(bucketKey("fg:", "api", [])).toBe("fg:{api}");
    expect(bucketKey("fg:", "api", [{ key: "user_id", value: "u1" }])).toBe("fg:{api|user_id=u1}");
    expect(
      bucketKey("fg:", "api", [
        { key: "user_id", value: "u1" },
        { key: "endpoint", value: "/x" },
        { key: "m", value: "GET" },
      ]),
    ).toBe("fg:{api|user_id=u1}|endpoint=/x|m=GET");
  });

  it("escape every character that could move the hash tag or merge two descriptors", () => {
    expect(bucketKey("p:", "d{1}", [{ key: "k|=", value: "a}{%" }])).toBe("p:{d%7B1%7D|k%7C%3D=a%7D%7B%25}");
    const a = bucketKey("", "d", [{ key: "a", value: "b|c=d" }]);
    const b = bucketKey("", "d", [
      { key: "a", value: "b" },
      { key: "c", value: "d" },
    ]);
    expect(a).not.toBe(b);
  });

  it("key a descriptor limit override by its rate and unit, in the same slot as the rules' bucket", () => {
    const entries = [{ key: "user_id", value: "victim" }];
    const rules = bucketKey("fg:", "api", entries);
    const override = limitBucketKey(rules, { requestsPerUnit: 4_000_000_000, unit: "second" });
    expect(override).toBe("fg:{api|user_id=victim}%L4000000000/second");
    expect(hashTag(override)).toBe(hashTag(rules));
    expect(limitBucketKey(bucketKey("fg:", "api", []), { requestsPerUnit: 1, unit: "minute" })).toBe(
      "fg:{api}%L1/minute",
    );
    // No value can spell the marker: its `%` is escaped.
    expect(bucketKey("fg:", "api", [...entries, { key: "x", value: "%L1/minute" }])).toBe(
      "fg:{api|user_id=victim}|x=%25L1/minute",
    );
  });

  it("digest a long or non-ASCII tag or rest, and keep short ASCII ones literal", () => {
    const hostile = "{".repeat(1024);
    const key = bucketKey("fg:", "api", [
      { key: "user_id", value: hostile },
      { key: "endpoint", value: hostile },
    ]);
    expect(key).toMatch(/^fg:\{%H[\w-]{22}\}%H[\w-]{22}$/);
    const userOnly = bucketKey("fg:", "api", [{ key: "user_id", value: hostile }]);
    expect(hashTag(userOnly)).toBe(hashTag(key));
    expect(bucketKey("fg:", "api", [{ key: "user_id", value: "josé" }])).toMatch(/^fg:\{%H[\w-]{22}\}$/);
    const fits = "x".repeat(MAX_LITERAL_SEGMENT - "api|user_id=".length);
    expect(bucketKey("fg:", "api", [{ key: "user_id", value: fits }])).toBe(`fg:{api|user_id=${fits}}`);
    expect(bucketKey("fg:", "api", [{ key: "user_id", value: `${fits}x` }])).toMatch(/^fg:\{%H/);
  });

  it("stay within 200 bytes with a 64-character prefix, whatever the domain, entries and values", () => {
    const worst = keyOf("p".repeat(64), {
      domain: "{".repeat(256),
      entries: Array.from({ length: 16 }, () => ({ key: "=".repeat(256), value: "😀".repeat(512) })),
      limit: { requestsPerUnit: 4_294_967_295, unit: "second" },
    });
    expect(bytes(worst)).toBeLessThanOrEqual(200);
    fc.assert(
      fc.property(prefix, input, (p, i) => {
        const key = keyOf(p, i);
        expect(bytes(key)).toBeLessThanOrEqual(p.length + 133);
        expect(bytes(key)).toBeLessThanOrEqual(200);
        expect(/[\u0080-\uffff]/.test(key)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it("stay distinct for distinct inputs, digested or not", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(input, { minLength: 2, maxLength: 40, selector: (i) => JSON.stringify(i) }),
        (inputs) => {
          const keys = new Set(inputs.map((i) => keyOf("fg:", i)));
          expect(keys.size).toBe(inputs.length);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("group by domain and first entry only: one slot for every bucket of one user", () => {
    fc.assert(
      fc.property(prefix, input, entry, (p, { domain, entries, limit }, first) => {
        const noTag = p.replace(/[{}]/g, "");
        const alone = bucketKey(noTag, domain, [first]);
        const more = keyOf(noTag, { domain, entries: [first, ...entries], limit });
        expect(hashTag(more)).toBe(hashTag(alone));
        expect(calculateSlot(more)).toBe(calculateSlot(alone));
      }),
      { numRuns: 1000 },
    );
  });
});
