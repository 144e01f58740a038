import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadRules, RulesError } from "../../src/config/rules-loader.js";
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

async function rejection(path: string): Promise<RulesError> {
  const error = await loadRules(path).then(
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

    const rules = await loadRules(dir);
    expect([...rules.domains.keys()]).toEqual(["alpha", "bravo"]);
    expect(rules.domains.get("alpha")?.source).toBe(join(dir, "a.yaml"));
    expect(rules.ruleCount).toBe(2);
    expect(rules.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.isFrozen(rules)).toBe(true);
  });

  it("follows the symlinks of a Kubernetes ConfigMap mount and skips its dot entries", async () => {
    await mkdir(join(dir, "..2026_01_01_00_00_00.000000001"));
    await writeFile(join(dir, "..2026_01_01_00_00_00.000000001", "api.yaml"), domainYaml("api", 7));
    await symlink("..2026_01_01_00_00_00.000000001", join(dir, "..data"));
    await symlink(join("..data", "api.yaml"), join(dir, "api.yaml"));

    const rules = await loadRules(dir);
    expect([...rules.domains.keys()]).toEqual(["api"]);
    expect(rules.domains.get("api")?.root.defaults.get("k")?.rateLimit?.requestsPerUnit).toBe(7);
  });

  it("skips a dangling symlink (a key the current ConfigMap swap removed)", async () => {
    await writeFile(join(dir, "a.yaml"), domainYaml("alpha"));
    await symlink(join("..data", "gone.yaml"), join(dir, "gone.yaml"));
    const rules = await loadRules(dir);
    expect([...rules.domains.keys()]).toEqual(["alpha"]);
  });

  it("allows zero files (an empty RuleSet)", async () => {
    const rules = await loadRules(dir);
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
        message: `duplicate domain 'shared': also defined in ${join(dir, "one.yaml")} (one domain per file)`,
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

describe("loadRules: a single file and missing paths", () => {
  it("loads a single file whatever its extension", async () => {
    const file = join(dir, "rules.conf");
    await writeFile(file, domainYaml("single", 3));
    const rules = await loadRules(file);
    expect(rules.domains.get("single")?.source).toBe(file);
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
    const first = (await loadRules(dir)).digest;
    expect((await loadRules(dir)).digest).toBe(first);

    await writeFile(join(dir, "a.yaml"), domainYaml("alpha", 2));
    const edited = (await loadRules(dir)).digest;
    expect(edited).not.toBe(first);

    await rm(join(dir, "a.yaml"));
    await writeFile(join(dir, "renamed.yaml"), domainYaml("alpha", 2));
    expect((await loadRules(dir)).digest).not.toBe(edited);
    expect(digestFiles(await readRulesFiles(dir))).toBe((await loadRules(dir)).digest);
  });
});

describe("summarizeRulesChange", () => {
  it("names the added, removed and changed domains", async () => {
    const { summarizeRulesChange } = await import("../../src/config/rules-diff.js");
    const { loadRulesFromText } = await import("../../src/config/rules-loader.js");
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
