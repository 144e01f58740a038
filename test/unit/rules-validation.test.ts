import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { buildRuleSet, formatIssue, loadRules, RulesError } from "../../src/config/rules-loader.js";
import { loadRulesFromText } from "../fixtures/rules-text.js";
import type { LoadedRules, RuleIssue, RulesLoadOptions } from "../../src/config/rules-loader.js";

const INVALID = fileURLToPath(new URL("../fixtures/rules/invalid/", import.meta.url));

interface Case {
  readonly fixture: string;
  readonly path: string;
  readonly line: number;
  readonly message: RegExp;
}

/** One fixture per error kind: the issue must name the file, the YAML path and the line. */
const CASES: readonly Case[] = [
  {
    fixture: "duplicate-yaml-key",
    path: "descriptors[0].rate_limit.unit",
    line: 6,
    message: /duplicate key 'unit'/,
  },
  { fixture: "unknown-field", path: "descriptors[0].priority", line: 7, message: /unknown field 'priority'/ },
  {
    fixture: "unknown-rate-limit-field",
    path: "descriptors[0].rate_limit.unit_multiplier",
    line: 7,
    message: /unknown field 'unit_multiplier'/,
  },
  {
    fixture: "bad-unit",
    path: "descriptors[0].descriptors[1].rate_limit.unit",
    line: 12,
    message: /invalid unit 'fortnight'/,
  },
  {
    fixture: "unit-with-unlimited",
    path: "descriptors[0].rate_limit.unit",
    line: 6,
    message: /must not be set when unlimited is true/,
  },
  {
    fixture: "missing-unit",
    path: "descriptors[0].rate_limit.unit",
    line: 4,
    message: /required field is missing/,
  },
  {
    fixture: "missing-requests",
    path: "descriptors[0].rate_limit.requests_per_unit",
    line: 4,
    message:
      /^required field is missing \(unless unlimited is true\): the reference server would read it as 0 and deny every request; write 'requests_per_unit: 0' if that is the intent$/,
  },
  {
    fixture: "duplicate-descriptor",
    path: "descriptors[1]",
    line: 8,
    message:
      /duplicate descriptor composite key 'duplicate_descriptor\.remote_address_50\.0\.0\.5' \(first defined at line 3\)/,
  },
  {
    fixture: "duplicate-default-descriptor",
    path: "descriptors[0].descriptors[1]",
    line: 9,
    message: /duplicate descriptor composite key 'duplicate_default\.to_cluster\.from_cluster'/,
  },
  { fixture: "empty-domain", path: "domain", line: 1, message: /must not be empty/ },
  { fixture: "missing-domain", path: "domain", line: 1, message: /required field is missing/ },
  { fixture: "empty-file", path: "domain", line: 1, message: /required field is missing/ },
  { fixture: "empty-key", path: "descriptors[0].key", line: 3, message: /must not be empty/ },
  { fixture: "missing-key", path: "descriptors[0].key", line: 3, message: /required field is missing/ },
  {
    fixture: "float-requests",
    path: "descriptors[0].rate_limit.requests_per_unit",
    line: 6,
    message: /must be an integer, got a float \(1\.5\)/,
  },
  {
    fixture: "negative-requests",
    path: "descriptors[0].rate_limit.requests_per_unit",
    line: 6,
    message: /from 0 to 4294967295, got -1/,
  },
  {
    fixture: "huge-requests",
    path: "descriptors[0].rate_limit.requests_per_unit",
    line: 6,
    message: /from 0 to 4294967295, got 4294967296/,
  },
  {
    fixture: "quoted-requests",
    path: "descriptors[0].rate_limit.requests_per_unit",
    line: 6,
    message: /must be an integer, got a string/,
  },
  {
    fixture: "burst-with-unlimited",
    path: "descriptors[0].rate_limit.burst",
    line: 6,
    message: /must not be set when unlimited is true/,
  },
  {
    fixture: "bad-burst",
    path: "descriptors[0].rate_limit.burst",
    line: 7,
    message: /from 1 to 4294967295, got 0/,
  },
  {
    fixture: "bad-replaces",
    path: "descriptors[0].rate_limit.replaces[0].name",
    line: 8,
    message: /must not be empty/,
  },
  {
    fixture: "self-replaces",
    path: "descriptors[0].rate_limit.replaces[0].name",
    line: 9,
    message: /must not replace itself \('per_user'\)/,
  },
  {
    fixture: "share-threshold-without-wildcard",
    path: "descriptors[0].share_threshold",
    line: 5,
    message: /needs a wildcard/,
  },
  { fixture: "not-a-mapping", path: "", line: 1, message: /top level must be a mapping.*got a list/ },
  { fixture: "yaml-syntax", path: "", line: 5, message: /^YAML syntax error: Flow sequence/ },
  { fixture: "multiple-documents", path: "", line: 2, message: /exactly one YAML document/ },
  {
    fixture: "non-string-value",
    path: "descriptors[0].value",
    line: 4,
    message: /must be a string, got a float \(2\.5\)/,
  },
  {
    fixture: "non-string-key",
    path: "descriptors[0]",
    line: 4,
    message: /mapping key must be a string, got an integer \(404\)/,
  },
  { fixture: "non-bool-flag", path: "descriptors[0].shadow_mode", line: 4, message: /must be a boolean/ },
  {
    fixture: "descriptors-not-a-list",
    path: "descriptors",
    line: 3,
    message: /must be a list, got a mapping/,
  },
  {
    fixture: "descriptor-not-a-mapping",
    path: "descriptors[0]",
    line: 3,
    message: /must be a mapping, got a string/,
  },
  {
    fixture: "metadata-not-a-mapping",
    path: "descriptors[0].metadata",
    line: 4,
    message: /must be a mapping/,
  },
];

async function issuesOf(file: string): Promise<readonly RuleIssue[]> {
  const error = await loadRules(file).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error, `${file} should be rejected`).toBeInstanceOf(RulesError);
  return (error as RulesError).errors;
}

describe("rules validation: one fixture per error kind", () => {
  it("has a table row for every fixture and a fixture for every row", () => {
    const fixtures = readdirSync(INVALID).map((name) => name.replace(/\.yaml$/, ""));
    expect(fixtures.sort()).toEqual(CASES.map((c) => c.fixture).sort());
  });

  it.each(CASES)("$fixture → $path", async ({ fixture, path, line, message }) => {
    const file = join(INVALID, `${fixture}.yaml`);
    const issues = await issuesOf(file);
    expect(issues).toHaveLength(1);
    const [issue] = issues;
    expect(issue).toMatchObject({ file, path, line });
    expect(issue!.message).toMatch(message);
    const location = path === "" ? `${file}:${line}: ` : `${file}:${line}: ${path}: `;
    expect(formatIssue(issue!)).toMatch(new RegExp(`^${escape(location)}`));
  });
});

describe("rules validation: reporting", () => {
  it("collects every issue of a file, in document order, instead of stopping at the first", () => {
    const text = [
      "domain: many",
      "descriptors:",
      "  - key: a",
      "    rate_limit: {unit: fortnight, requests_per_unit: 1}",
      "  - key: ''",
      "  - key: b",
      "    shadow_mode: maybe",
      "    rate_limit: {unit: second, requests_per_unit: -3, burst: 0}",
    ].join("\n");
    const error = catchRulesError(() => loadRulesFromText("many.yaml", text));
    expect(error.errors.map((issue) => [issue.path, issue.line])).toEqual([
      ["descriptors[0].rate_limit.unit", 4],
      ["descriptors[1].key", 5],
      ["descriptors[2].shadow_mode", 7],
      ["descriptors[2].rate_limit.requests_per_unit", 8],
      ["descriptors[2].rate_limit.burst", 8],
    ]);
  });

  it("writes a multi-line message with one file:line: path: message line per issue", () => {
    const error = catchRulesError(() =>
      loadRulesFromText("m.yaml", "domain: m\ndescriptors:\n  - key: a\n    bogus: 1\n    value: 1.5\n"),
    );
    expect(error.message.split("\n")).toEqual([
      "invalid rate limit rules (2 issues):",
      expect.stringMatching(/^ {2}m\.yaml:4: descriptors\[0\]\.bogus: unknown field 'bogus'/),
      "  m.yaml:5: descriptors[0].value: must be a string, got a float (1.5)",
    ]);
  });

  it("rejects an alias to an anchor that does not exist", () => {
    const error = catchRulesError(() =>
      loadRulesFromText("alias.yaml", "domain: a\ndescriptors:\n  - key: k\n    value: *users\n"),
    );
    expect(error.errors).toEqual([
      {
        file: "alias.yaml",
        path: "descriptors[0].value",
        line: 4,
        message: "YAML alias '*users' refers to no anchor",
      },
    ]);
  });

  it("still reports structural issues in a file that also has a duplicate key", () => {
    const text = "domain: d\ndomain: e\ndescriptors:\n  - key: a\n    rate_limit: {unit: parsec}\n";
    const error = catchRulesError(() => loadRulesFromText("d.yaml", text));
    expect(error.errors.map((issue) => issue.path)).toEqual([
      "domain",
      "descriptors[0].rate_limit.unit",
      "descriptors[0].rate_limit.requests_per_unit",
    ]);
  });
});

describe("rules validation: what the reference server accepts", () => {
  it("accepts units in any case", () => {
    const rules = loadRulesFromText(
      "u.yaml",
      "domain: u\ndescriptors:\n  - key: a\n    rate_limit: {unit: MiNuTe, requests_per_unit: 3}\n",
    );
    expect(rules.root.defaults.get("a")?.rateLimit).toMatchObject({ unit: "minute", requestsPerUnit: 3 });
  });

  it("reads integer and boolean values as their source text, as yaml.v2 does for Go strings", () => {
    const text =
      "domain: 42\ndescriptors:\n  - key: status\n    value: 0429\n    rate_limit: {unit: second, requests_per_unit: 1_000}\n  - key: flag\n    value: yes\n";
    const rules = loadRulesFromText("t.yaml", text);
    expect(rules.domain).toBe("42");
    expect(rules.root.exact.get("status")?.get("0429")?.rateLimit?.requestsPerUnit).toBe(1000);
    expect(rules.root.exact.get("flag")?.has("yes")).toBe(true);
  });

  it("accepts YAML 1.1 booleans, null flags, anchors and merge keys", () => {
    const text = [
      "domain: anchors",
      "descriptors:",
      "  - key: a",
      "    shadow_mode: on",
      "    detailed_metric: ~",
      "    rate_limit: &per_minute {unit: minute, requests_per_unit: 5}",
      "  - key: b",
      "    rate_limit:",
      "      <<: *per_minute",
      "      requests_per_unit: 7",
    ].join("\n");
    const rules = loadRulesFromText("a.yaml", text);
    expect(rules.root.defaults.get("a")).toMatchObject({ shadowMode: true });
    expect(rules.root.defaults.get("b")?.rateLimit).toMatchObject({ unit: "minute", requestsPerUnit: 7 });
  });

  it("treats an empty value as key-only and `rate_limit:` with nothing as no limit", () => {
    const rules = loadRulesFromText(
      "e.yaml",
      "domain: e\ndescriptors:\n  - key: a\n    value: ''\n    rate_limit:\n",
    );
    const node = rules.root.defaults.get("a");
    expect(node).toMatchObject({ key: "a", value: undefined, rateLimit: undefined });
  });

  it("accepts requests_per_unit 0 and 4294967295, and unlimited with a count", () => {
    const text = [
      "domain: bounds",
      "descriptors:",
      "  - {key: zero, rate_limit: {unit: second, requests_per_unit: 0}}",
      "  - {key: max, rate_limit: {unit: year, requests_per_unit: 4294967295, burst: 4294967295}}",
      "  - {key: open, rate_limit: {unlimited: true, requests_per_unit: 9}}",
    ].join("\n");
    const rules = loadRulesFromText("b.yaml", text);
    expect(rules.root.defaults.get("zero")?.rateLimit?.requestsPerUnit).toBe(0);
    expect(rules.root.defaults.get("max")?.rateLimit).toMatchObject({
      requestsPerUnit: 4294967295,
      burst: 4294967295,
    });
    expect(rules.root.defaults.get("open")?.rateLimit).toMatchObject({ unlimited: true, burst: undefined });
  });
});

describe("rules validation: a missing requests_per_unit", () => {
  it("is refused, also when the key is there with no value (the reference server reads both as 0)", () => {
    const text = "domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: second, requests_per_unit: }\n";
    const error = catchRulesError(() => loadRulesFromText("d.yaml", text));
    expect(error.errors).toEqual([
      {
        file: "d.yaml",
        path: "descriptors[0].rate_limit.requests_per_unit",
        line: 4,
        message: expect.stringMatching(/^required field is missing .*deny every request/),
      },
    ]);
  });
});

/** The reference server accepts these keys anywhere in a file, and ignores them where they have no field. */
const MISPLACED = [
  "key: stray",
  "domain: lenient",
  "descriptors:",
  "  - key: tier",
  "    value: premium",
  "    descriptors:",
  "      - key: user",
  "        rate_limit: {unit: second, requests_per_unit: 1}",
  "      - key: plan",
  "        name: plan_limit",
  "        replaces: [{name: other}]",
  "        rate_limit:",
  "          unit: minute",
  "          requests_per_unit: 5",
  "          shadow_mode: true",
].join("\n");

const WITHOUT_MISPLACED = [
  "domain: lenient",
  "descriptors:",
  "  - key: tier",
  "    value: premium",
  "    descriptors:",
  "      - key: user",
  "        rate_limit: {unit: second, requests_per_unit: 1}",
  "      - key: plan",
  "        rate_limit: {unit: minute, requests_per_unit: 5}",
].join("\n");

const MISPLACED_WARNINGS: readonly RuleIssue[] = [
  {
    file: "m.yaml",
    path: "key",
    line: 1,
    message:
      "has no effect: the reference server ignores 'key' at the top level (it belongs on a descriptor)",
  },
  {
    file: "m.yaml",
    path: "descriptors[0].descriptors[1].name",
    line: 10,
    message:
      "has no effect: the reference server ignores 'name' on a descriptor (it belongs inside rate_limit)",
  },
  {
    file: "m.yaml",
    path: "descriptors[0].descriptors[1].replaces",
    line: 11,
    message:
      "has no effect: the reference server ignores 'replaces' on a descriptor (it belongs inside rate_limit)",
  },
  {
    file: "m.yaml",
    path: "descriptors[0].descriptors[1].rate_limit.shadow_mode",
    line: 15,
    message:
      "has no effect: the reference server ignores 'shadow_mode' inside rate_limit (it belongs on a descriptor)",
  },
];

function loadText(text: string, options: RulesLoadOptions = {}, file = "m.yaml"): LoadedRules {
  return buildRuleSet([{ path: file, name: file, bytes: Buffer.from(text) }], options);
}

describe("rules validation: keys the reference server ignores where they are", () => {
  it("loads the file and warns once per key, naming the file, the path and the line", () => {
    const { rules, warnings } = loadText(MISPLACED);
    expect(warnings).toEqual(MISPLACED_WARNINGS);
    expect(formatIssue(warnings[1]!)).toBe(
      "m.yaml:10: descriptors[0].descriptors[1].name: has no effect: the reference server ignores 'name' on a descriptor (it belongs inside rate_limit)",
    );
    expect(rules.ruleCount).toBe(2);
  });

  it("builds the same tree as the file without those keys: they do nothing", () => {
    const lenient = loadText(MISPLACED).rules.domains.get("lenient")!;
    const clean = loadText(WITHOUT_MISPLACED).rules.domains.get("lenient")!;
    expect(lenient.root).toEqual(clean.root);
    const plan = lenient.root.exact.get("tier")?.get("premium")?.children.defaults.get("plan");
    expect(plan).toMatchObject({ shadowMode: false, rateLimit: { name: undefined, replaces: [] } });
  });

  it("warns for every reference key out of place: in a replaces entry, at the top level, in rate_limit", () => {
    const text = [
      "domain: d",
      "value: x",
      "descriptors:",
      "  - key: a",
      "    domain: again",
      "    unlimited: true",
      "    rate_limit:",
      "      unit: second",
      "      requests_per_unit: 1",
      "      descriptors: [{key: b, value: c}]",
      "  - key: b",
      "    rate_limit:",
      "      unit: second",
      "      requests_per_unit: 1",
      "      replaces: [{name: a, unit: hour}]",
    ].join("\n");
    const { warnings } = loadText(text);
    expect(warnings.map((w) => [w.path, w.line])).toEqual([
      ["value", 2],
      ["descriptors[0].domain", 5],
      ["descriptors[0].unlimited", 6],
      ["descriptors[0].rate_limit.descriptors", 10],
      ["descriptors[1].rate_limit.replaces[0].unit", 15],
    ]);
    expect(warnings[4]?.message).toBe(
      "has no effect: the reference server ignores 'unit' in a replaces entry (it belongs inside rate_limit)",
    );
  });

  it("with strict, refuses them with the same message", () => {
    const error = catchRulesError(() => loadText(MISPLACED, { strict: true }));
    expect(error.errors).toEqual(
      MISPLACED_WARNINGS.map((w) => ({ ...w, message: `${w.message}; --strict refuses it` })),
    );
  });

  it("still refuses what the reference server refuses inside them, and keys it does not know", () => {
    const text = [
      "domain: d",
      "descriptors:",
      "  - key: a",
      "    replaces: [{name: x, priority: 1}]",
      "  - key: b",
      "    name: 1.5",
      "  - key: c",
      "    replaces: [plain]",
      "  - key: d",
      "    burst: 3",
      "  - key: e",
      "    rate_limit:",
      "      unit: second",
      "      requests_per_unit: 1",
      "      descriptors: [{key: f, rate_limit: {unit_multiplier: 2}}]",
    ].join("\n");
    const error = catchRulesError(() => loadText(text));
    expect(error.errors.map((issue) => [issue.path, issue.line])).toEqual([
      ["descriptors[0].replaces[0].priority", 4],
      ["descriptors[1].name", 6],
      ["descriptors[2].replaces[0]", 8],
      ["descriptors[3].burst", 10],
      ["descriptors[4].rate_limit.descriptors[0].rate_limit.unit_multiplier", 15],
    ]);
    expect(error.errors[0]?.message).toMatch(/^unknown field 'priority'/);
    expect(error.errors[1]?.message).toMatch(/^must not be a float \(1\.5\)/);
    expect(error.errors[2]?.message).toMatch(/^must be a mapping, got a string/);
    expect(error.errors[3]?.message).toMatch(/^unknown field 'burst'/);
  });
});

function catchRulesError(fn: () => unknown): RulesError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RulesError);
    return error as RulesError;
  }
  throw new Error("expected a RulesError");
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
