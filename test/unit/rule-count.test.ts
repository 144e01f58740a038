import { describe, expect, it } from "vitest";
import { buildRuleSet } from "../../src/config/rules-loader.js";
import { loadRulesFromText } from "../fixtures/rules-text.js";
import { countRules } from "../../src/domain/rule-count.js";

/** One count of rate_limit blocks, for the loaded RuleSet (metrics, logs) and `config validate`. */
const TEXT = [
  "domain: d",
  "descriptors:",
  "  - key: k", // key-only, limited
  "    rate_limit: {unlimited: true}",
  "    descriptors:",
  "      - key: j",
  "        value: 'v*'", // wildcard, limited
  "        rate_limit: {unit: hour, requests_per_unit: 2}",
  "      - key: j",
  "        value: x", // exact, limited
  "        rate_limit: {unit: hour, requests_per_unit: 2}",
  "  - key: open", // no limit
  "    descriptors:",
  "      - key: deep", // nested under a node without one
  "        rate_limit: {unit: second, requests_per_unit: 1}",
].join("\n");

describe("countRules", () => {
  it("counts every rate_limit block, unlimited ones included, at every depth", () => {
    expect(countRules(loadRulesFromText("d.yaml", TEXT).root)).toBe(4);
  });

  it("is what a loaded RuleSet reports", () => {
    const files = [
      { path: "d.yaml", name: "d.yaml", bytes: Buffer.from(TEXT) },
      {
        path: "e.yaml",
        name: "e.yaml",
        bytes: Buffer.from(
          "domain: e\ndescriptors:\n  - key: a\n    rate_limit: {unit: day, requests_per_unit: 5}\n",
        ),
      },
    ];
    expect(buildRuleSet(files).rules.ruleCount).toBe(5);
  });
});
