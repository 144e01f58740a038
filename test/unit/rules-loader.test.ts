import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadRules, RulesError } from "../../src/config/rules-loader.js";
import type { RulesLoadOptions } from "../../src/config/rules-loader.js";
import { digestFiles, readRulesFiles } from "../../src/config/rules-files.js";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "floodgate-rules-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function domainYaml(domain: string, rpu = 1): string {
  return `domain: ${domain}\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: ${rpu}}\n`;
}

async function rejection(path: string, options: RulesLoadOptions = {}): Promise<RulesError> {
  const error = await loadRules(path, options).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(RulesError);
  return error as RulesError;
}

describe("loadRules: a directory", () => {
  it("loads *.yaml and *.yml directly inside it, sorted by name, and nothing else", async () => {
    await writeFile(join(dir, "b.yml"), domainYaml("bravo"));
    await writeFile(join(dir, "a.yaml"), domainYaml("alpha"));
    await writeFile(join(dir, ".hidden.yaml"), "not: [valid");
    await writeFile(join(dir, "notes.txt"), "not yaml");
    await writeFile(join(dir, "c.yaml.bak"), "not: [valid");
    await mkdir(join(dir, "nested"));
    await writeFile(join(dir, "nested", "deep.yaml"), domainYaml("deep"));
    await mkdir(join(dir, "dir.yaml"));

    const { rules, warnings } = await loadRules(dir);
    expect([...rules.domains.keys()]).toEqual(["alpha", "bravo"]);
    expect(rules.domains.get("alpha")?.sources).toEqual([join(dir, "a.yaml")]);
    expect(warnings).toEqual([]);
    expect(rules.ruleCount).toBe(2);
    expect(rules.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.isFrozen(rules)).toBe(true);
  });

  it("follows the symlinks of a Kubernetes ConfigMap mount and skips its dot entries", async () => {
    await mkdir(join(dir, "..2026_01_01_00_00_00.000000001"));
    await writeFile(join(dir, "..2026_01_01_00_00_00.000000001", "api.yaml"), domainYaml("api", 7));
    await symlink("..2026_01_01_00_00_00.000000001", join(dir, "..data"));
    await symlink(join("..data", "api.yaml"), join(dir, "api.yaml"));

    const { rules } = await loadRules(dir);
    expect([...rules.domains.keys()]).toEqual(["api"]);
    expect(rules.domains.get("api")?.root.defaults.get("k")?.rateLimit?.requestsPerUnit).toBe(7);
  });

  it("skips a dangling symlink (a key the current ConfigMap swap removed)", async () => {
    await writeFile(join(dir, "a.yaml"), domainYaml("alpha"));
    await symlink(join("..data", "gone.yaml"), join(dir, "gone.yaml"));
    const { rules } = await loadRules(dir);
    expect([...rules.domains.keys()]).toEqual(["alpha"]);
  });

  it("allows zero files (an empty RuleSet)", async () => {
    const { rules } = await loadRules(dir);
    expect(rules.domains.size).toBe(0);
    expect(rules.ruleCount).toBe(0);
    expect(rules.digest).toBe(digestFiles(await readRulesFiles(dir)));
  });

  it("rejects the same domain in two files, naming both", async () => {
    await writeFile(join(dir, "one.yaml"), domainYaml("shared"));
    await writeFile(join(dir, "two.yaml"), `# second copy\n${domainYaml("shared")}`);
    const error = await rejection(dir);
    expect(error.errors).toEqual([
      {
        file: join(dir, "two.yaml"),
        path: "domain",
        line: 2,
        message: `duplicate domain 'shared': also defined in ${join(dir, "one.yaml")} (one domain per file unless MERGE_DOMAIN_CONFIG=true)`,
      },
    ]);
  });

  it("collects the issues of every file, not just the first bad one", async () => {
    await writeFile(
      join(dir, "a.yaml"),
      "domain: a\ndescriptors:\n  - key: k\n    rate_limit: {unit: nope}\n",
    );
    await writeFile(join(dir, "b.yaml"), domainYaml("fine"));
    await writeFile(join(dir, "c.yaml"), "domain: [c\n");
    await writeFile(join(dir, "d.yaml"), Buffer.from([0x64, 0x3a, 0x20, 0xff, 0xfe]));
    const error = await rejection(dir);
    const files = error.errors.map((issue) => issue.file.slice(dir.length + 1));
    expect(files).toEqual(["a.yaml", "a.yaml", "c.yaml", "d.yaml"]);
    expect(error.errors[3]?.message).toBe("the file is not valid UTF-8");
    expect(error.message).toContain(
      `${join(dir, "a.yaml")}:4: descriptors[0].rate_limit.unit: invalid unit 'nope'`,
    );
  });
});

describe("loadRules: warnings", () => {
  it("collects the keys that have no effect from every file, each naming its file", async () => {
    await writeFile(join(dir, "a.yaml"), `key: stray\n${domainYaml("alpha")}`);
    await writeFile(join(dir, "b.yaml"), `${domainYaml("bravo")}    name: misplaced\n`);
    const { rules, warnings } = await loadRules(dir);
    expect([...rules.domains.keys()]).toEqual(["alpha", "bravo"]);
    expect(warnings.map((w) => [w.file, w.path, w.line])).toEqual([
      [join(dir, "a.yaml"), "key", 1],
      [join(dir, "b.yaml"), "descriptors[0].name", 5],
    ]);
    expect(warnings.every((w) => w.message.startsWith("has no effect"))).toBe(true);
  });

  it("with strict, refuses them instead", async () => {
    await writeFile(join(dir, "a.yaml"), `key: stray\n${domainYaml("alpha")}`);
    const error = await rejection(dir, { strict: true });
    expect(error.errors.map((issue) => issue.path)).toEqual(["key"]);
  });
});

describe("loadRules: MERGE_DOMAIN_CONFIG", () => {
  const wildcard = (value: string, rpu: number): string =>
    `  - key: path\n    value: '${value}'\n    rate_limit: {unit: second, requests_per_unit: ${rpu}}\n`;

  it("merges the top-level descriptors of files that share a domain, in file name order", async () => {
    await writeFile(
      join(dir, "b.yaml"),
      `domain: shared\ndescriptors:\n${wildcard("/api/*", 2)}  - key: user\n    rate_limit: {unit: second, requests_per_unit: 3}\n`,
    );
    await writeFile(join(dir, "a.yaml"), `domain: shared\ndescriptors:\n${wildcard("/api/v1/*", 1)}`);
    await writeFile(join(dir, "c.yaml"), domainYaml("other"));
    const { rules } = await loadRules(dir, { mergeDomains: true });
    expect([...rules.domains.keys()].sort()).toEqual(["other", "shared"]);
    expect(rules.ruleCount).toBe(4);
    const shared = rules.domains.get("shared")!;
    expect(shared.sources).toEqual([join(dir, "a.yaml"), join(dir, "b.yaml")]);
    // Wildcards keep file order across files: a.yaml's comes first.
    expect(shared.root.wildcards.get("path")?.map((w) => w.node.value)).toEqual(["/api/v1/*", "/api/*"]);
    expect(shared.root.defaults.get("user")?.rateLimit?.requestsPerUnit).toBe(3);
    expect(rules.domains.get("other")?.sources).toEqual([join(dir, "c.yaml")]);
  });

  it("refuses a top-level descriptor that two merged files both define, naming both", async () => {
    await writeFile(join(dir, "one.yaml"), domainYaml("shared"));
    await writeFile(join(dir, "two.yaml"), `# second copy\n${domainYaml("shared", 2)}`);
    const error = await rejection(dir, { mergeDomains: true });
    expect(error.errors).toEqual([
      {
        file: join(dir, "two.yaml"),
        path: "descriptors[0]",
        line: 4,
        message: `duplicate descriptor composite key 'shared.k' (first defined at ${join(dir, "one.yaml")}:3)`,
      },
    ]);
  });

  it("marks a merged domain changed when any of its files changes", async () => {
    const { summarizeRulesChange } = await import("../../src/config/rules-diff.js");
    await writeFile(join(dir, "a.yaml"), `domain: shared\ndescriptors:\n${wildcard("/a*", 1)}`);
    await writeFile(join(dir, "b.yaml"), `domain: shared\ndescriptors:\n${wildcard("/b*", 1)}`);
    const before = (await loadRules(dir, { mergeDomains: true })).rules;
    await writeFile(join(dir, "b.yaml"), `domain: shared\ndescriptors:\n${wildcard("/b*", 2)}`);
    const after = (await loadRules(dir, { mergeDomains: true })).rules;
    expect(summarizeRulesChange(before, after).changed).toEqual(["shared"]);
  });
});

describe("loadRules: a single file and missing paths", () => {
  it("loads a single file whatever its extension", async () => {
    const file = join(dir, "rules.conf");
    await writeFile(file, domainYaml("single", 3));
    const { rules } = await loadRules(file);
    expect(rules.domains.get("single")?.sources).toEqual([file]);
    expect(rules.ruleCount).toBe(1);
  });

  it("rejects a path that does not exist", async () => {
    const missing = join(dir, "nope");
    const error = await rejection(missing);
    expect(error.errors).toEqual([{ file: missing, path: "", message: "no such file or directory" }]);
  });
});

describe("the digest", () => {
  it("is stable for equal files and changes with content or name", async () => {
    await writeFile(join(dir, "a.yaml"), domainYaml("alpha"));
    const digestOf = async (): Promise<string> => (await loadRules(dir)).rules.digest;
    const first = await digestOf();
    expect(await digestOf()).toBe(first);

    await writeFile(join(dir, "a.yaml"), domainYaml("alpha", 2));
    const edited = await digestOf();
    expect(edited).not.toBe(first);

    await rm(join(dir, "a.yaml"));
    await writeFile(join(dir, "renamed.yaml"), domainYaml("alpha", 2));
    expect(await digestOf()).not.toBe(edited);
    expect(digestFiles(await readRulesFiles(dir))).toBe(await digestOf());
  });
});

describe("summarizeRulesChange", () => {
  it("names the added, removed and changed domains", async () => {
    const { summarizeRulesChange } = await import("../../src/config/rules-diff.js");
    const { loadRulesFromText } = await import("../fixtures/rules-text.js");
    const set = (docs: Record<string, string>) => {
      const domains = new Map(
        Object.entries(docs).map(([name, text]) => [name, loadRulesFromText(`${name}.yaml`, text)]),
      );
      return { domains, digest: Object.values(docs).join("|"), ruleCount: domains.size };
    };
    const a = "domain: a\n";
    const before = set({ a, b: "domain: b\n", c: "domain: c\n" });
    const after = set({ a, b: "domain: b\ndescriptors: [{ key: k }]\n", d: "domain: d\n" });
    expect(summarizeRulesChange(before, after)).toEqual({
      digest: after.digest,
      ruleCount: 3,
      added: ["d"],
      removed: ["c"],
      changed: ["b"],
    });
    expect(summarizeRulesChange(undefined, before).added).toEqual(["a", "b", "c"]);
  });
});
