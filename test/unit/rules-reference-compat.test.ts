import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadRules } from "../../src/config/rules-loader.js";
import { matchDescriptor } from "../../src/domain/rule-match.js";
import type { DescriptorEntry, DomainRules } from "../../src/domain/rules.js";

/**
 * The configs in test/fixtures/rules/reference are the envoyproxy/ratelimit README examples (and
 * its example deployment configs) as their users write them. They must load unchanged and match
 * the way the README says.
 */
const REFERENCE = fileURLToPath(new URL("../fixtures/rules/reference/", import.meta.url));

async function domainOf(file: string, domain: string): Promise<DomainRules> {
  const { rules } = await loadRules(join(REFERENCE, file));
  expect([...rules.domains.keys()]).toEqual([domain]);
  return rules.domains.get(domain)!;
}

type Pairs = readonly (readonly [string, string])[];

/** A compact view of what a descriptor gets: "no match", "no limit", "unlimited" or "N/unit". */
function verdict(rules: DomainRules, pairs: Pairs): string {
  const entries: DescriptorEntry[] = pairs.map(([key, value]) => ({ key, value }));
  const match = matchDescriptor(rules, entries);
  if (match === undefined) return "no match";
  const limit = match.node.rateLimit;
  if (limit === undefined) return "no limit";
  if (limit.unlimited) return "unlimited";
  return `${limit.requestsPerUnit}/${limit.unit}${match.node.shadowMode ? " shadow" : ""}`;
}

describe("reference README examples load unchanged and match as documented", () => {
  it("example 1: two values of one key each get 500/second; other values do not match", async () => {
    const rules = await domainOf("example1-mongo-cps.yaml", "mongo_cps");
    expect(verdict(rules, [["database", "users"]])).toBe("500/second");
    expect(verdict(rules, [["database", "default"]])).toBe("500/second");
    expect(verdict(rules, [["database", "orders"]])).toBe("no match");
  });

  it("example 2: nested marketing limit per number, and a per-number overall limit", async () => {
    const rules = await domainOf("example2-messaging.yaml", "messaging");
    const marketing = (to: string): Pairs => [
      ["message_type", "marketing"],
      ["to_number", to],
    ];
    expect(verdict(rules, marketing("2061111111"))).toBe("5/day");
    expect(verdict(rules, [["to_number", "2061111111"]])).toBe("100/day");
    // Each number gets its own bucket: the bucket entries are the request's own values.
    const match = matchDescriptor(rules, [
      { key: "message_type", value: "marketing" },
      { key: "to_number", value: "2062222222" },
    ]);
    expect(match?.bucketEntries.map((e) => e.value)).toEqual(["marketing", "2062222222"]);
    // The placeholder level has no limit of its own; other message types have no rule at all.
    expect(verdict(rules, [["message_type", "marketing"]])).toBe("no limit");
    expect(
      verdict(rules, [
        ["message_type", "transactional"],
        ["to_number", "2061111111"],
      ]),
    ).toBe("no match");
  });

  it("example 3: key/value beats the key-only default (blocked IP)", async () => {
    const rules = await domainOf("example3-edge-proxy-per-ip.yaml", "edge_proxy_per_ip");
    expect(verdict(rules, [["remote_address", "50.0.0.1"]])).toBe("10/second");
    expect(verdict(rules, [["remote_address", "50.0.0.5"]])).toBe("0/second");
  });

  it("example 4: the request depth must equal the config depth", async () => {
    const flat = await domainOf("example4-depth-mismatch.yaml", "example4");
    expect(
      verdict(flat, [
        ["key", "value"],
        ["subkey", "subvalue"],
      ]),
    ).toBe("no match");
    expect(verdict(flat, [["key", "value"]])).toBe("300/second");

    const nested = await domainOf("example4-nested.yaml", "example4");
    expect(
      verdict(nested, [
        ["key", "value"],
        ["subkey", "subvalue"],
      ]),
    ).toBe("300/second");
    expect(verdict(nested, [["key", "value"]])).toBe("no limit");
  });

  it("example 5: unlimited descriptors", async () => {
    const rules = await domainOf("example5-internal-unlimited.yaml", "internal");
    expect(verdict(rules, [["ldap", "anything"]])).toBe("unlimited");
    expect(verdict(rules, [["azure", "anything"]])).toBe("100/minute");
  });

  it("example 6: shadow_mode on one user only", async () => {
    const rules = await domainOf("example6-shadow-mode.yaml", "example6");
    expect(
      verdict(rules, [
        ["service", "auth-service"],
        ["user", "user-a"],
      ]),
    ).toBe("10/second shadow");
    expect(
      verdict(rules, [
        ["service", "auth-service"],
        ["user", "user-b"],
      ]),
    ).toBe("20/second");
    expect(
      verdict(rules, [
        ["service", "auth-service"],
        ["user", "user-c"],
      ]),
    ).toBe("no match");
  });

  it("example 7: replaces names the limit it replaces", async () => {
    const rules = await domainOf("example7-replaces.yaml", "example7");
    const first = matchDescriptor(rules, [
      { key: "key_1", value: "value_1" },
      { key: "user", value: "bkthomps" },
    ]);
    const second = matchDescriptor(rules, [
      { key: "key_2", value: "value_2" },
      { key: "user", value: "bkthomps" },
    ]);
    expect(first?.node.rateLimit).toMatchObject({ name: "specific_limit", requestsPerUnit: 5, replaces: [] });
    expect(second?.node.rateLimit).toMatchObject({
      name: undefined,
      requestsPerUnit: 10,
      unit: "second",
      replaces: ["specific_limit"],
    });
  });

  it("example 8: detailed_metric (accepted, no effect) on the key-only default; the explicit value wins", async () => {
    const rules = await domainOf("example8-detailed-metric.yaml", "example8");
    const other = matchDescriptor(rules, [{ key: "key1", value: "unspecified_value" }]);
    expect(other?.node).toMatchObject({ rateLimit: { requestsPerUnit: 10, unit: "minute" } });
    expect(verdict(rules, [["key1", "value1"]])).toBe("20/minute");
  });

  it("example 9: a trailing wildcard", async () => {
    const rules = await domainOf("example9-wildcard.yaml", "example9");
    expect(verdict(rules, [["key1", "value1"]])).toBe("20/minute");
    expect(verdict(rules, [["key1", "value2"]])).toBe("20/minute");
    expect(verdict(rules, [["key1", "value"]])).toBe("20/minute");
    expect(verdict(rules, [["key1", "other"]])).toBe("no match");
  });
});

describe("reference example deployment configs", () => {
  it("the Envoy demo config (source_cluster, headers, banned and shady values)", async () => {
    const rules = await domainOf("example-rl-envoy-demo.yaml", "rl");
    expect(
      verdict(rules, [
        ["source_cluster", "proxy"],
        ["destination_cluster", "mock"],
      ]),
    ).toBe("1/minute");
    expect(
      verdict(rules, [
        ["source_cluster", "other"],
        ["destination_cluster", "mock"],
      ]),
    ).toBe("no match");
    expect(verdict(rules, [["foo", "foo"]])).toBe("2/minute");
    expect(
      verdict(rules, [
        ["foo", "foo"],
        ["bar", "bar"],
      ]),
    ).toBe("3/minute");
    expect(
      verdict(rules, [
        ["foo", "foo"],
        ["bar", "banned"],
      ]),
    ).toBe("0/minute");
    expect(
      verdict(rules, [
        ["foo", "foo"],
        ["baz", "baz"],
      ]),
    ).toBe("1/second");
    expect(
      verdict(rules, [
        ["foo", "foo"],
        ["baz", "shady"],
      ]),
    ).toBe("1/minute shadow");
    expect(
      verdict(rules, [
        ["foo", "foo"],
        ["baz", "not-so-shady"],
      ]),
    ).toBe("1/second");
    expect(
      verdict(rules, [
        ["foo", "foo"],
        ["bay", "x"],
      ]),
    ).toBe("unlimited");
    expect(verdict(rules, [["qux", "x"]])).toBe("unlimited");
    expect(
      verdict(rules, [
        ["foo", "foo"],
        ["bar", "bar"],
        ["extra", "x"],
      ]),
    ).toBe("no match");
  });

  it("quota_mode configs load (the flag is accepted)", async () => {
    const rules = await domainOf("example-quota-mode.yaml", "quota");
    expect(verdict(rules, [["service", "service_1"]])).toBe("1/minute");
    expect(verdict(rules, [["service", "service_2"]])).toBe("2/minute");
    expect(verdict(rules, [["service", "service_3"]])).toBe("no match");
  });

  it("non-trailing wildcards, share_threshold, value_to_metric and metadata", async () => {
    const rules = await domainOf("example-wildcards-share-threshold.yaml", "wildcards");
    expect(verdict(rules, [["path", "/api/v2/orders/17"]])).toBe("30/minute");
    expect(verdict(rules, [["path", "/api/users"]])).toBe("100/minute");
    expect(verdict(rules, [["path", "/health"]])).toBe("no match");
    expect(verdict(rules, [["user_agent", "googlebot/2.1"]])).toBe("1000/hour");
    expect(verdict(rules, [["user_agent", "curl/8"]])).toBe("50000/week");

    const orders = matchDescriptor(rules, [{ key: "path", value: "/api/v1/orders/9" }]);
    expect(orders?.bucketEntries).toEqual([{ key: "path", value: "/api/v1/orders/9" }]);
    const shared = matchDescriptor(rules, [{ key: "path", value: "/api/users" }]);
    expect(shared?.bucketEntries).toEqual([{ key: "path", value: "/api/*" }]);
  });

  it("the whole directory loads as one RuleSet except for the two alternative example4 files", async () => {
    await expect(loadRules(REFERENCE)).rejects.toThrow(
      /duplicate domain 'example4': also defined in .*example4-depth-mismatch\.yaml/,
    );
  });

  it("merged (MERGE_DOMAIN_CONFIG), the two example4 files clash on their top-level descriptor, as in the reference", async () => {
    await expect(loadRules(REFERENCE, { mergeDomains: true })).rejects.toThrow(
      /example4-nested\.yaml:3: descriptors\[0\]: duplicate descriptor composite key 'example4\.key_value' \(first defined at .*example4-depth-mismatch\.yaml:3\)/,
    );
  });
});
