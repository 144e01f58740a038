import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadRulesFromText } from "../fixtures/rules-text.js";
import { matchDescriptor } from "../../src/domain/rule-match.js";
import type { DescriptorEntry, DomainRules, RuleMatch } from "../../src/domain/rules.js";
import { compileWildcard } from "../../src/domain/wildcard.js";

function rules(yaml: string): DomainRules {
  return loadRulesFromText("inline.yaml", yaml);
}

function match(domain: DomainRules, ...pairs: [string, string][]): RuleMatch | undefined {
  return matchDescriptor(
    domain,
    pairs.map(([key, value]) => ({ key, value })),
  );
}

/** The requests_per_unit of the matched rule, so each node in a test is told apart by its number. */
function rpu(found: RuleMatch | undefined): number | "none" | "no-limit" {
  if (found === undefined) return "none";
  return found.node.rateLimit?.requestsPerUnit ?? "no-limit";
}

const PRECEDENCE = rules(`
domain: precedence
descriptors:
  - key: k
    rate_limit: {unit: second, requests_per_unit: 1}
  - key: k
    value: "a*"
    rate_limit: {unit: second, requests_per_unit: 2}
  - key: k
    value: abc
    rate_limit: {unit: second, requests_per_unit: 3}
  - key: k
    value: "ab*"
    rate_limit: {unit: second, requests_per_unit: 4}
`);

describe("matchDescriptor: precedence at one level", () => {
  it("exact key+value beats any wildcard and the default", () => {
    expect(rpu(match(PRECEDENCE, ["k", "abc"]))).toBe(3);
  });

  it("the first matching wildcard in file order wins, not the longest", () => {
    expect(rpu(match(PRECEDENCE, ["k", "abd"]))).toBe(2);
    expect(rpu(match(PRECEDENCE, ["k", "a"]))).toBe(2);
  });

  it("the key-only default catches values no other node matches", () => {
    expect(rpu(match(PRECEDENCE, ["k", "zzz"]))).toBe(1);
    expect(rpu(match(PRECEDENCE, ["k", ""]))).toBe(1);
  });

  it("an unknown key matches nothing", () => {
    expect(match(PRECEDENCE, ["other", "abc"])).toBeUndefined();
  });

  it("matching is case-sensitive", () => {
    expect(rpu(match(PRECEDENCE, ["k", "ABC"]))).toBe(1);
    expect(match(PRECEDENCE, ["K", "abc"])).toBeUndefined();
  });
});

const TREE = rules(`
domain: tree
descriptors:
  - key: a
    value: x
    descriptors:
      - key: c
        rate_limit: {unit: second, requests_per_unit: 10}
  - key: a
    descriptors:
      - key: b
        rate_limit: {unit: second, requests_per_unit: 20}
  - key: a
    value: "w*"
    descriptors:
      - key: b
        rate_limit: {unit: minute, requests_per_unit: 30}
  - key: solo
    value: leaf
    rate_limit: {unit: hour, requests_per_unit: 40}
  - key: open
`);

describe("matchDescriptor: walking the tree", () => {
  it("does not backtrack: an exact level-1 match whose subtree lacks level 2 is a miss", () => {
    // (a, x) picks the exact node; its children have no `b`, and the default (a) branch that
    // does have `b` is never tried.
    expect(match(TREE, ["a", "x"], ["b", "1"])).toBeUndefined();
    expect(rpu(match(TREE, ["a", "x"], ["c", "1"]))).toBe(10);
    expect(rpu(match(TREE, ["a", "y"], ["b", "1"]))).toBe(20);
  });

  it("does not backtrack from a wildcard to the default either", () => {
    expect(rpu(match(TREE, ["a", "wow"], ["b", "1"]))).toBe(30);
    expect(match(TREE, ["a", "wow"], ["c", "1"])).toBeUndefined();
  });

  it("requires the request depth to equal the node depth", () => {
    expect(rpu(match(TREE, ["solo", "leaf"]))).toBe(40);
    expect(match(TREE, ["solo", "leaf"], ["more", "1"])).toBeUndefined();
    expect(match(TREE, ["a", "y"], ["b", "1"], ["c", "2"])).toBeUndefined();
  });

  it("returns a node without a limit when the last entry lands on one (the request is allowed)", () => {
    const inner = match(TREE, ["a", "x"]);
    expect(inner?.node).toMatchObject({ key: "a", value: "x", rateLimit: undefined });
    const leaf = match(TREE, ["open", "anything"]);
    expect(leaf?.node).toMatchObject({ key: "open", value: undefined, rateLimit: undefined });
    expect(leaf?.node.children.defaults.size).toBe(0);
  });

  it("returns undefined for a descriptor with zero entries", () => {
    expect(matchDescriptor(TREE, [])).toBeUndefined();
  });

  it("returns the request's own entries as bucket entries (no copy) without share_threshold", () => {
    const entries: DescriptorEntry[] = [
      { key: "a", value: "wow" },
      { key: "b", value: "7" },
    ];
    const found = matchDescriptor(TREE, entries);
    expect(found?.bucketEntries).toBe(entries);
  });
});

describe("matchDescriptor: share_threshold", () => {
  const SHARED = rules(`
domain: shared
descriptors:
  - key: tenant
    value: "team-*"
    share_threshold: true
    descriptors:
      - key: path
        value: "/v1/*"
        rate_limit: {unit: second, requests_per_unit: 5}
      - key: path
        value: "/v2/*"
        share_threshold: true
        rate_limit: {unit: second, requests_per_unit: 6}
`);

  it("contributes the pattern, not the request value, to the bucket entries", () => {
    expect(match(SHARED, ["tenant", "team-red"], ["path", "/v1/users"])?.bucketEntries).toEqual([
      { key: "tenant", value: "team-*" },
      { key: "path", value: "/v1/users" },
    ]);
    expect(match(SHARED, ["tenant", "team-blue"], ["path", "/v2/x"])?.bucketEntries).toEqual([
      { key: "tenant", value: "team-*" },
      { key: "path", value: "/v2/*" },
    ]);
  });

  it("gives two matching values the same bucket entries", () => {
    const red = match(SHARED, ["tenant", "team-red"], ["path", "/v2/a"]);
    const blue = match(SHARED, ["tenant", "team-blue"], ["path", "/v2/b"]);
    expect(red?.bucketEntries).toEqual(blue?.bucketEntries);
    expect(rpu(red)).toBe(6);
  });
});

describe("wildcards", () => {
  const MULTI = rules(`
domain: multi
descriptors:
  - key: path
    value: "/api/*/users/*/orders"
    rate_limit: {unit: second, requests_per_unit: 1}
  - key: host
    value: "*.example.com"
    rate_limit: {unit: second, requests_per_unit: 2}
  - key: q
    value: "a.b+(c)*[d]"
    rate_limit: {unit: second, requests_per_unit: 3}
`);

  it("supports several `*` anywhere in the value", () => {
    expect(rpu(match(MULTI, ["path", "/api/v1/users/42/orders"]))).toBe(1);
    expect(rpu(match(MULTI, ["path", "/api//users//orders"]))).toBe(1);
    expect(match(MULTI, ["path", "/api/v1/users/42/orders/7"])).toBeUndefined();
    expect(match(MULTI, ["path", "/api/v1/accounts/42/orders"])).toBeUndefined();
  });

  it("supports a leading `*`", () => {
    expect(rpu(match(MULTI, ["host", "www.example.com"]))).toBe(2);
    expect(match(MULTI, ["host", "example.com"])).toBeUndefined();
  });

  it("treats regex metacharacters literally", () => {
    expect(rpu(match(MULTI, ["q", "a.b+(c)[d]"]))).toBe(3);
    expect(rpu(match(MULTI, ["q", "a.b+(c)zz[d]"]))).toBe(3);
    expect(match(MULTI, ["q", "aXb+(c)[d]"])).toBeUndefined();
    expect(match(MULTI, ["q", "a.bb(c)[d]"])).toBeUndefined();
  });

  it("compileWildcard handles the edge shapes", () => {
    expect(compileWildcard("*")("")).toBe(true);
    expect(compileWildcard("**")("anything")).toBe(true);
    expect(compileWildcard("a*a")("a")).toBe(false);
    expect(compileWildcard("a*a")("aa")).toBe(true);
    expect(compileWildcard("x*")("line1\nline2")).toBe(false);
    expect(compileWildcard("l*2")("line1\nline2")).toBe(true);
    expect(compileWildcard("plain")("plain")).toBe(true);
    expect(compileWildcard("plain")("plainer")).toBe(false);
  });

  it("compileWildcard agrees with the plain definition (`*` is any run of characters)", () => {
    const reference = (pattern: string, value: string) =>
      new RegExp(
        `^${pattern
          .split("*")
          .map((p) => p.replace(/[.+?^${}()|[\]\\/-]/g, "\\$&"))
          .join(".*")}$`,
        "s",
      ).test(value);
    const text = (chars: string) => fc.string({ unit: fc.constantFrom(...chars), maxLength: 8 });
    fc.assert(
      fc.property(text("ab*"), text("ab"), (pattern, value) => {
        expect(compileWildcard(pattern)(value)).toBe(reference(pattern, value));
      }),
      { numRuns: 2000 },
    );
  });

  it("compileWildcard takes linear time on a long value (a value is the client's, up to the message cap)", () => {
    // The backtracking RegExp this replaced took cubic time for `x*a*a*y` on "xaaa…" (no y):
    // 0.3 s at 1,000 characters, 15 s at 4,000; and a value can be 500 KB.
    const started = performance.now();
    expect(compileWildcard("x*a*a*y")(`x${"a".repeat(4000)}`)).toBe(false);
    expect(compileWildcard("*a*b*")("a".repeat(500_000))).toBe(false);
    expect(compileWildcard("*a*b*")(`${"a".repeat(500_000)}b`)).toBe(true);
    expect(performance.now() - started).toBeLessThan(200);
  });

  it("keeps values without `*` out of the wildcard index", () => {
    expect(MULTI.root.wildcards.get("path")).toHaveLength(1);
    expect(PRECEDENCE.root.exact.get("k")?.has("abc")).toBe(true);
    expect(PRECEDENCE.root.wildcards.get("k")?.map((w) => w.node.value)).toEqual(["a*", "ab*"]);
  });
});

describe("the built tree is immutable", () => {
  it("freezes nodes, rules and levels", () => {
    const node = match(TREE, ["solo", "leaf"])!.node;
    expect(Object.isFrozen(node)).toBe(true);
    expect(Object.isFrozen(node.rateLimit)).toBe(true);
    expect(Object.isFrozen(node.rateLimit!.replaces)).toBe(true);
    expect(Object.isFrozen(TREE)).toBe(true);
    expect(Object.isFrozen(TREE.root)).toBe(true);
  });
});

/**
 * Where Floodgate deliberately differs from the reference server (README, "Differences from the
 * reference server"). The reference looks a request entry up as the one string `key_value`: first
 * in a map of `key_value` (and key-only `key`) strings, then against every wildcard of the level
 * in file order, whatever its key. Floodgate compares the key and the value separately. Each case
 * names what the reference returns, so a change on either side shows up here.
 */
describe("matchDescriptor: the corners where the reference server differs", () => {
  const CORNERS = rules(`
domain: corners
descriptors:
  - key: p
    value: "a*"
    rate_limit: {unit: second, requests_per_unit: 1}
  - key: p
    value: "ab*"
    rate_limit: {unit: second, requests_per_unit: 2}
  - key: a
    value: "b*"
    rate_limit: {unit: second, requests_per_unit: 3}
  - key: a
    value: b_x
    rate_limit: {unit: second, requests_per_unit: 4}
  - key: a_b
    rate_limit: {unit: second, requests_per_unit: 5}
`);

  it("a value with `*` is an ordinary value: `p=ab*` takes the first matching wildcard (the reference: the `ab*` node)", () => {
    // Reference: `p_ab*` is in its map (the pattern's own text), an exact hit on 2.
    expect(rpu(match(CORNERS, ["p", "ab*"]))).toBe(1);
    expect(rpu(match(CORNERS, ["p", "abc"]))).toBe(1);
  });

  it("a wildcard matches only its own key: `a_b=y` gets a_b's default (the reference: a's `b*`)", () => {
    // Reference: no `a_b_y` in its map; the wildcard `a_b*` matches the string `a_b_y` → 3.
    expect(rpu(match(CORNERS, ["a_b", "y"]))).toBe(5);
  });

  it("an exact value matches only its own key: `a_b=x` gets a_b's default (the reference: a's `b_x`)", () => {
    // Reference: `a_b_x` is the map key of {key: a, value: b_x} → 4.
    expect(rpu(match(CORNERS, ["a_b", "x"]))).toBe(5);
    expect(rpu(match(CORNERS, ["a", "b_x"]))).toBe(4);
  });

  it("a key-only node matches only its own key: `a=b` takes a's wildcard `b*` (the reference: the `a_b` default)", () => {
    // Reference: `a_b` is the map key of the key-only node {key: a_b} → 5.
    expect(rpu(match(CORNERS, ["a", "b"]))).toBe(3);
  });

  it("without a default for the other key, such an entry matches nothing (the reference: a's `b*`)", () => {
    const noDefault = rules(`
domain: corners
descriptors:
  - key: a
    value: "b*"
    rate_limit: {unit: second, requests_per_unit: 3}
`);
    expect(match(noDefault, ["a_b", "x"])).toBeUndefined();
    expect(match(noDefault, ["a_bc", "x"])).toBeUndefined();
  });
});
