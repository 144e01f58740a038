import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { validateRulesPath } from "../../src/app/cli/validate-command.js";

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

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
