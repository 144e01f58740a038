import calculateSlot from "cluster-key-slot";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { BucketCheck, BucketId } from "../../src/domain/bucket.js";
import type { DescriptorEntry } from "../../src/domain/rules.js";
import { bucketKey, keyedChecks, MAX_LITERAL_SEGMENT } from "../../src/store/keys.js";

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
const entry: fc.Arbitrary<DescriptorEntry> = fc.record({ key: sized(1, 256), value: sized(0, 1024) });
const limit: fc.Arbitrary<BucketId["descriptorLimit"]> = fc.option(
  fc.record({
    requestsPerUnit: fc.integer({ min: 0, max: 4_294_967_295 }),
    unit: fc.constantFrom("second", "minute", "hour", "day", "month", "year"),
  }),
  { nil: undefined },
);
const input: fc.Arbitrary<BucketId> = fc.record({
  domain: sized(1, 256),
  entries: fc.array(entry, { maxLength: 16 }),
  descriptorLimit: limit,
});
/** REDIS_KEY_PREFIX: up to 64 characters; ASCII, as operators write it. */
const prefix = fc.string({ unit: "binary-ascii", maxLength: 64 });

/** The key of a bucket with no descriptor limit. */
function plainKey(prefix: string, domain: string, entries: readonly DescriptorEntry[]): string {
  return bucketKey({ domain, entries }, prefix);
}

describe("bucket keys", () => {
  it("name the domain and the descriptor values, with the first entry in the hash tag", () => {
    expect(plainKey("fg:", "api", [])).toBe("fg:{api}");
    expect(plainKey("fg:", "api", [{ key: "user_id", value: "u1" }])).toBe("fg:{api|user_id=u1}");
    expect(
      plainKey("fg:", "api", [
        { key: "user_id", value: "u1" },
        { key: "endpoint", value: "/x" },
        { key: "m", value: "GET" },
      ]),
    ).toBe("fg:{api|user_id=u1}|endpoint=/x|m=GET");
  });

  it("escape every character that could move the hash tag or merge two descriptors", () => {
    expect(plainKey("p:", "d{1}", [{ key: "k|=", value: "a}{%" }])).toBe("p:{d%7B1%7D|k%7C%3D=a%7D%7B%25}");
    const a = plainKey("", "d", [{ key: "a", value: "b|c=d" }]);
    const b = plainKey("", "d", [
      { key: "a", value: "b" },
      { key: "c", value: "d" },
    ]);
    expect(a).not.toBe(b);
  });

  it("key a descriptor limit override by its rate and unit, in the same slot as the rules' bucket", () => {
    const entries = [{ key: "user_id", value: "victim" }];
    const rules = plainKey("fg:", "api", entries);
    const descriptorLimit = { requestsPerUnit: 4_000_000_000, unit: "second" } as const;
    const override = bucketKey({ domain: "api", entries, descriptorLimit }, "fg:");
    expect(override).toBe("fg:{api|user_id=victim}%L4000000000/second");
    expect(hashTag(override)).toBe(hashTag(rules));
    const perMinute = { requestsPerUnit: 1, unit: "minute" } as const;
    expect(bucketKey({ domain: "api", entries: [], descriptorLimit: perMinute }, "fg:")).toBe(
      "fg:{api}%L1/minute",
    );
    // No value can spell the marker: its `%` is escaped.
    expect(plainKey("fg:", "api", [...entries, { key: "x", value: "%L1/minute" }])).toBe(
      "fg:{api|user_id=victim}|x=%25L1/minute",
    );
  });

  it("digest a long or non-ASCII tag or rest, and keep short ASCII ones literal", () => {
    const hostile = "{".repeat(1024);
    const both = plainKey("fg:", "api", [
      { key: "user_id", value: hostile },
      { key: "endpoint", value: hostile },
    ]);
    expect(both).toMatch(/^fg:\{%H[\w-]{22}\}%H[\w-]{22}$/);
    const userOnly = plainKey("fg:", "api", [{ key: "user_id", value: hostile }]);
    expect(hashTag(userOnly)).toBe(hashTag(both));
    expect(plainKey("fg:", "api", [{ key: "user_id", value: "josé" }])).toMatch(/^fg:\{%H[\w-]{22}\}$/);
    const fits = "x".repeat(MAX_LITERAL_SEGMENT - "api|user_id=".length);
    expect(plainKey("fg:", "api", [{ key: "user_id", value: fits }])).toBe(`fg:{api|user_id=${fits}}`);
    expect(plainKey("fg:", "api", [{ key: "user_id", value: `${fits}x` }])).toMatch(/^fg:\{%H/);
  });

  it("stay within 200 bytes with a 64-character prefix, whatever the domain, entries and values", () => {
    const worst = bucketKey(
      {
        domain: "{".repeat(256),
        entries: Array.from({ length: 16 }, () => ({ key: "=".repeat(256), value: "😀".repeat(512) })),
        descriptorLimit: { requestsPerUnit: 4_294_967_295, unit: "second" },
      },
      "p".repeat(64),
    );
    expect(bytes(worst)).toBeLessThanOrEqual(200);
    fc.assert(
      fc.property(prefix, input, (p, i) => {
        const key = bucketKey(i, p);
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
          const keys = new Set(inputs.map((i) => bucketKey(i, "fg:")));
          expect(keys.size).toBe(inputs.length);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("are built by the store for each check, under its prefix, in order", () => {
    const spec = { capacity: 1, refillTokens: 1, refillPeriodUs: 1e6 };
    const checks: BucketCheck[] = [
      { bucket: { domain: "api", entries: [{ key: "user_id", value: "u1" }] }, spec, cost: 2, shadow: false },
      {
        bucket: { domain: "api", entries: [], descriptorLimit: { requestsPerUnit: 1, unit: "minute" } },
        spec,
        cost: 0,
        shadow: true,
      },
    ];
    expect(keyedChecks(checks, "fg:")).toEqual([
      { key: "fg:{api|user_id=u1}", spec, cost: 2, shadow: false },
      { key: "fg:{api}%L1/minute", spec, cost: 0, shadow: true },
    ]);
  });

  it("under a prefix are the prefix and the key without one (the Redis store relies on it)", () => {
    fc.assert(
      fc.property(prefix, input, (p, i) => {
        expect(p + bucketKey(i)).toBe(bucketKey(i, p));
      }),
      { numRuns: 1000 },
    );
  });

  it("share one slot when the prefix holds a hash tag", () => {
    const slots = new Set(
      ["a", "b", "c"].map((user) =>
        calculateSlot(plainKey("fg:{one}:", "api", [{ key: "user", value: user }])),
      ),
    );
    expect(slots.size).toBe(1);
  });

  it("group by domain and first entry only: one slot for every bucket of one user", () => {
    fc.assert(
      fc.property(prefix, input, entry, (p, { domain, entries, descriptorLimit }, first) => {
        const noTag = p.replace(/[{}]/g, "");
        const alone = plainKey(noTag, domain, [first]);
        const more = bucketKey({ domain, entries: [first, ...entries], descriptorLimit }, noTag);
        expect(hashTag(more)).toBe(hashTag(alone));
        expect(calculateSlot(more)).toBe(calculateSlot(alone));
      }),
      { numRuns: 1000 },
    );
  });
});
