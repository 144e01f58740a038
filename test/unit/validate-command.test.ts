import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseValidateArgs, validateRulesPath } from "../../src/app/cli/validate-command.js";
import { UsageError } from "../../src/app/cli/args.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/rules/", import.meta.url));

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "floodgate-validate-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("validateRulesPath", () => {
  it("summarizes a valid directory: domains, rule counts and sources", async () => {
    await writeFile(
      join(dir, "a.yaml"),
      "domain: zeta\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1}\n",
    );
    await writeFile(
      join(dir, "b.yaml"),
      [
        "domain: alpha",
        "descriptors:",
        "  - key: k",
        "    rate_limit: {unlimited: true}",
        "    descriptors:",
        "      - key: j",
        "        value: 'v*'",
        "        rate_limit: {unit: hour, requests_per_unit: 2}",
        "  - key: open",
      ].join("\n"),
    );
    const result = await validateRulesPath(dir);
    expect(result.ok).toBe(true);
    const lines = result.report.split("\n");
    expect(lines[0]).toMatch(
      new RegExp(`^${escape(dir)}: OK, 2 domains, 3 rules \\(digest [0-9a-f]{12}\\)$`),
    );
    expect(lines.slice(1)).toEqual([
      `  alpha: 2 rules (${join(dir, "b.yaml")})`,
      `  zeta: 1 rule (${join(dir, "a.yaml")})`,
    ]);
  });

  it("summarizes a reference example file", async () => {
    const file = join(FIXTURES, "reference", "example2-messaging.yaml");
    const result = await validateRulesPath(file);
    expect(result).toMatchObject({ ok: true });
    expect(result.report).toContain("1 domain, 2 rules");
    expect(result.report).toContain(`  messaging: 2 rules (${file})`);
  });

  it("lists every error, one per line with file, line and YAML path", async () => {
    await writeFile(
      join(dir, "bad.yaml"),
      "domain: bad\ndescriptors:\n  - key: k\n    rate_limit:\n      unit: fortnight\n      requests_per_unit: -1\n",
    );
    const result = await validateRulesPath(dir);
    expect(result.ok).toBe(false);
    const file = join(dir, "bad.yaml");
    expect(result.report.split("\n")).toEqual([
      `${dir}: 2 errors`,
      `${file}:5: descriptors[0].rate_limit.unit: invalid unit 'fortnight' (expected one of second, minute, hour, day, week, month, year)`,
      `${file}:6: descriptors[0].rate_limit.requests_per_unit: must be an integer from 0 to 4294967295, got -1`,
    ]);
  });

  it("reports a missing path as an error, not a crash", async () => {
    const missing = join(dir, "missing");
    expect(await validateRulesPath(missing)).toEqual({
      ok: false,
      report: `${missing}: 1 error\n${missing}: no such file or directory`,
    });
  });

  it("reports an invalid fixture with its line", async () => {
    const file = join(FIXTURES, "invalid", "unit-with-unlimited.yaml");
    const result = await validateRulesPath(file);
    expect(result.ok).toBe(false);
    expect(result.report).toContain(
      `${file}:6: descriptors[0].rate_limit.unit: must not be set when unlimited is true`,
    );
  });
});

const MISPLACED = [
  "key: stray",
  "domain: lenient",
  "descriptors:",
  "  - key: plan",
  "    name: plan_limit",
  "    rate_limit: {unit: minute, requests_per_unit: 5}",
].join("\n");

describe("validateRulesPath: keys the reference server ignores", () => {
  it("prints them as warnings after the summary, and passes", async () => {
    const file = join(dir, "m.yaml");
    await writeFile(file, MISPLACED);
    const result = await validateRulesPath(dir);
    expect(result.ok).toBe(true);
    const lines = result.report.split("\n");
    expect(lines[0]).toMatch(
      new RegExp(`^${escape(dir)}: OK, 1 domain, 1 rule \\(digest [0-9a-f]{12}\\), 2 warnings$`),
    );
    expect(lines.slice(1)).toEqual([
      `  lenient: 1 rule (${file})`,
      `warning: ${file}:1: key: has no effect: the reference server ignores 'key' at the top level (it belongs on a descriptor)`,
      `warning: ${file}:5: descriptors[0].name: has no effect: the reference server ignores 'name' on a descriptor (it belongs inside rate_limit)`,
    ]);
  });

  it("refuses them with --strict", async () => {
    const file = join(dir, "m.yaml");
    await writeFile(file, MISPLACED);
    const result = await validateRulesPath(dir, { strict: true });
    expect(result.ok).toBe(false);
    expect(result.report.split("\n")).toEqual([
      `${dir}: 2 errors`,
      `${file}:1: key: has no effect: the reference server ignores 'key' at the top level (it belongs on a descriptor); --strict refuses it`,
      `${file}:5: descriptors[0].name: has no effect: the reference server ignores 'name' on a descriptor (it belongs inside rate_limit); --strict refuses it`,
    ]);
  });
});

describe("validateRulesPath: files that share a domain", () => {
  const part = (key: string) =>
    `domain: shared\ndescriptors:\n  - key: ${key}\n    rate_limit: {unit: second, requests_per_unit: 1}\n`;

  it("refuses them by default, and merges them with --merge-domain-config (MERGE_DOMAIN_CONFIG)", async () => {
    await writeFile(join(dir, "a.yaml"), part("user"));
    await writeFile(join(dir, "b.yaml"), part("path"));
    const refused = await validateRulesPath(dir);
    expect(refused.ok).toBe(false);
    expect(refused.report).toContain("duplicate domain 'shared'");
    const merged = await validateRulesPath(dir, { mergeDomains: true });
    expect(merged.ok).toBe(true);
    expect(merged.report.split("\n").slice(1)).toEqual([
      `  shared: 2 rules (${join(dir, "a.yaml")}, ${join(dir, "b.yaml")})`,
    ]);
  });
});

describe("parseValidateArgs", () => {
  it("takes one PATH with --strict and --merge-domain-config in any order", () => {
    expect(parseValidateArgs(["rules"])).toEqual({
      path: "rules",
      options: { strict: false, mergeDomains: false },
    });
    expect(parseValidateArgs(["--strict", "rules", "--merge-domain-config"])).toEqual({
      path: "rules",
      options: { strict: true, mergeDomains: true },
    });
  });

  it.each([[[]], [["a", "b"]], [["--bogus", "rules"]]])("refuses %j", (args) => {
    expect(() => parseValidateArgs(args)).toThrow(UsageError);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
