import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadRules } from "../../src/config/rules-loader.js";
import { watchRules } from "../../src/config/rules-watcher.js";
import type { RulesWatcher, WatchRulesOptions } from "../../src/config/rules-watcher.js";
import type { RuleSet } from "../../src/domain/rules.js";
import type { RuleIssue } from "../../src/config/rules-loader.js";

/** Polling so slow it never fires during a test: these cases must work from fs events alone. */
const EVENTS_ONLY = 60_000;
const WAIT_MS = 5_000;

/** Records the watcher's callbacks and lets a test wait for a condition on them. */
class Recorder {
  readonly reloads: RuleSet[] = [];
  readonly warnings: (readonly RuleIssue[])[] = [];
  readonly errors: unknown[] = [];
  private wake: (() => void) | undefined;

  readonly onReload = (rules: RuleSet, warnings: readonly RuleIssue[] = []): void => {
    this.reloads.push(rules);
    this.warnings.push(warnings);
    this.wake?.();
  };

  readonly onError = (err: unknown): void => {
    this.errors.push(err);
    this.wake?.();
  };

  async until(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out waiting for ${what} (reloads=${this.reloads.length}, errors=${this.errors.length})`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  latest(): RuleSet {
    const last = this.reloads[this.reloads.length - 1];
    if (last === undefined) throw new Error("no reload yet");
    return last;
  }
}

let dir: string;
const watchers: RulesWatcher[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "floodgate-watch-"));
});

afterEach(async () => {
  await Promise.all(watchers.splice(0).map((w) => w.close()));
  await rm(dir, { recursive: true, force: true });
});

function rulesYaml(domain: string, rpu: number): string {
  return `domain: ${domain}\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: ${rpu}}\n`;
}

function rpuOf(rules: RuleSet, domain: string): number | undefined {
  return rules.domains.get(domain)?.root.defaults.get("k")?.rateLimit?.requestsPerUnit;
}

async function start(
  path: string,
  options: Partial<WatchRulesOptions> = {},
): Promise<{ recorder: Recorder; watcher: RulesWatcher }> {
  const recorder = new Recorder();
  const initial = (await loadRules(path, options.load)).rules;
  const watcher = watchRules({
    path,
    onReload: recorder.onReload,
    onError: recorder.onError,
    debounceMs: 20,
    pollMs: EVENTS_ONLY,
    initialDigest: initial.digest,
    ...options,
  });
  watchers.push(watcher);
  await watcher.ready;
  return { recorder, watcher };
}

const shortPause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("watchRules: a directory", () => {
  it("reloads on an in-place edit, and not when the bytes are unchanged", async () => {
    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 1));
    const { recorder } = await start(dir);

    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 2));
    await recorder.until(() => recorder.reloads.length === 1, "the edit");
    expect(rpuOf(recorder.latest(), "alpha")).toBe(2);

    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 2));
    await shortPause(200);
    expect(recorder.reloads).toHaveLength(1);
    expect(recorder.errors).toEqual([]);
  });

  it("reloads when a file is added and when one is removed", async () => {
    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 1));
    const { recorder } = await start(dir);

    await writeFile(join(dir, "b.yml"), rulesYaml("bravo", 5));
    await recorder.until(() => recorder.reloads.at(-1)?.domains.has("bravo") === true, "the new file");
    expect([...recorder.latest().domains.keys()]).toEqual(["alpha", "bravo"]);

    await rm(join(dir, "a.yaml"));
    await recorder.until(() => recorder.reloads.at(-1)?.domains.has("alpha") === false, "the removal");
    expect([...recorder.latest().domains.keys()]).toEqual(["bravo"]);
  });

  it("reports a bad edit through onError every time, keeps the old rules, then reloads the fix", async () => {
    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 1));
    const { recorder } = await start(dir);

    await writeFile(
      join(dir, "a.yaml"),
      "domain: alpha\ndescriptors:\n  - key: k\n    rate_limit: {unit: eon}\n",
    );
    await recorder.until(() => recorder.errors.length >= 1, "the first error");
    await writeFile(join(dir, "a.yaml"), "domain: alpha\ndescriptors:\n  - key: ''\n");
    await recorder.until(() => recorder.errors.length >= 2, "the second error");
    expect(recorder.reloads).toEqual([]);
    expect(String(recorder.errors[0])).toContain("invalid unit 'eon'");

    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 3));
    await recorder.until(() => recorder.reloads.length === 1, "the fix");
    expect(rpuOf(recorder.latest(), "alpha")).toBe(3);
  });

  it("follows a Kubernetes ConfigMap update done the way kubelet does it", async () => {
    const first = "..2026_01_01_00_00_00.000000001";
    await mkdir(join(dir, first));
    await writeFile(join(dir, first, "api.yaml"), rulesYaml("api", 1));
    await symlink(first, join(dir, "..data"));
    await symlink(join("..data", "api.yaml"), join(dir, "api.yaml"));
    const { recorder } = await start(dir);

    // kubelet's AtomicWriter: write the new payload to a fresh timestamped directory, point a
    // temporary symlink at it, rename that over `..data`, add links for new keys, drop the old dir.
    const second = "..2026_01_01_00_01_00.000000002";
    await mkdir(join(dir, second));
    await writeFile(join(dir, second, "api.yaml"), rulesYaml("api", 2));
    await writeFile(join(dir, second, "web.yaml"), rulesYaml("web", 9));
    await symlink(second, join(dir, "..data_tmp"));
    await rename(join(dir, "..data_tmp"), join(dir, "..data"));
    await symlink(join("..data", "web.yaml"), join(dir, "web.yaml"));
    await rm(join(dir, first), { recursive: true });

    await recorder.until(() => recorder.reloads.some((r) => r.domains.has("web")), "the swap");
    expect(rpuOf(recorder.latest(), "api")).toBe(2);
    expect(rpuOf(recorder.latest(), "web")).toBe(9);
    expect(recorder.errors).toEqual([]);
  });
});

describe("watchRules: load options and warnings", () => {
  const other =
    "domain: shared\ndescriptors:\n  - key: other\n    rate_limit: {unit: second, requests_per_unit: 2}\n";

  it("merges files that share a domain when asked (MERGE_DOMAIN_CONFIG), and refuses them otherwise", async () => {
    await writeFile(join(dir, "a.yaml"), rulesYaml("shared", 1));
    const merged = await start(dir, { load: { mergeDomains: true } });
    const plain = await start(dir);

    await writeFile(join(dir, "b.yaml"), other);
    await merged.recorder.until(() => merged.recorder.reloads.length === 1, "the merged reload");
    const shared = merged.recorder.latest().domains.get("shared");
    expect(shared?.root.defaults.get("other")?.rateLimit?.requestsPerUnit).toBe(2);
    expect(rpuOf(merged.recorder.latest(), "shared")).toBe(1);
    expect(merged.recorder.errors).toEqual([]);

    await plain.recorder.until(() => plain.recorder.errors.length >= 1, "the duplicate domain");
    expect(String(plain.recorder.errors[0])).toContain("duplicate domain 'shared'");
    expect(plain.recorder.reloads).toEqual([]);
  });

  it("hands a reload's warnings to onReload", async () => {
    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 1));
    const { recorder } = await start(dir);

    await writeFile(join(dir, "a.yaml"), `key: stray\n${rulesYaml("alpha", 2)}`);
    await recorder.until(() => recorder.reloads.length === 1, "the edit");
    expect(rpuOf(recorder.latest(), "alpha")).toBe(2);
    expect(recorder.warnings[0]?.map((w) => [w.file, w.path])).toEqual([[join(dir, "a.yaml"), "key"]]);
  });
});

describe("watchRules: a single file", () => {
  it("reloads when the file is replaced by a rename (editors, mv)", async () => {
    const file = join(dir, "rules.yaml");
    await writeFile(file, rulesYaml("single", 1));
    await writeFile(join(dir, "unrelated.yaml"), rulesYaml("other", 1));
    const { recorder } = await start(file);

    await writeFile(join(dir, ".rules.yaml.swp"), rulesYaml("single", 2));
    await rename(join(dir, ".rules.yaml.swp"), file);
    await recorder.until(() => recorder.reloads.length === 1, "the rename");
    expect([...recorder.latest().domains.keys()]).toEqual(["single"]);
    expect(rpuOf(recorder.latest(), "single")).toBe(2);

    await writeFile(file, rulesYaml("single", 3));
    await recorder.until(() => recorder.reloads.length === 2, "an edit after the rename");
    expect(rpuOf(recorder.latest(), "single")).toBe(3);
  });
});

describe("watchRules: polling", () => {
  it("catches a change no event reports: RULES_PATH itself is a symlink swapped to another directory", async () => {
    await mkdir(join(dir, "v1"));
    await mkdir(join(dir, "v2"));
    await writeFile(join(dir, "v1", "a.yaml"), rulesYaml("alpha", 1));
    await writeFile(join(dir, "v2", "a.yaml"), rulesYaml("alpha", 2));
    await symlink("v1", join(dir, "current"));
    const { recorder } = await start(join(dir, "current"), { pollMs: 50 });

    await symlink("v2", join(dir, "current.tmp"));
    await rename(join(dir, "current.tmp"), join(dir, "current"));
    await recorder.until(() => recorder.reloads.length === 1, "the poll");
    expect(rpuOf(recorder.latest(), "alpha")).toBe(2);
  });

  it("reports one error per bad content from polling, not one per poll", async () => {
    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 1));
    const { recorder } = await start(join(dir, "a.yaml"), { pollMs: 20, debounceMs: 10_000 });

    await writeFile(join(dir, "a.yaml"), "domain: [broken\n");
    await recorder.until(() => recorder.errors.length === 1, "the error");
    await shortPause(200);
    expect(recorder.errors).toHaveLength(1);
    expect(recorder.reloads).toEqual([]);
  });

  it("takes a baseline when no initial digest is given, so the first reload is a real change", async () => {
    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 1));
    const { recorder } = await start(dir, { pollMs: 20, initialDigest: undefined });
    await shortPause(100);
    expect(recorder.reloads).toEqual([]);
    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 4));
    await recorder.until(() => recorder.reloads.length === 1, "the change");
    expect(rpuOf(recorder.latest(), "alpha")).toBe(4);
  });
});

describe("watchRules: robustness", () => {
  it("turns a throwing onReload into onError and keeps watching", async () => {
    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 1));
    const errors: unknown[] = [];
    const recorder = new Recorder();
    let calls = 0;
    const { watcher } = await start(dir, {
      onReload: (rules) => {
        calls++;
        if (calls === 1) throw new Error("consumer failed");
        recorder.onReload(rules);
      },
      onError: (err) => {
        errors.push(err);
        recorder.onError(err);
      },
    });
    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 2));
    await recorder.until(() => errors.length === 1, "the consumer error");
    expect((errors[0] as Error).message).toBe("consumer failed");
    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 3));
    await recorder.until(() => recorder.reloads.length === 1, "the next reload");
    expect(rpuOf(recorder.latest(), "alpha")).toBe(3);
    await watcher.close();
  });

  it("stops fully on close: no callback afterwards", async () => {
    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 1));
    const { recorder, watcher } = await start(dir, { pollMs: 20 });
    await watcher.close();
    await writeFile(join(dir, "a.yaml"), rulesYaml("alpha", 2));
    await writeFile(join(dir, "b.yaml"), "not: [valid");
    await shortPause(150);
    expect(recorder.reloads).toEqual([]);
    expect(recorder.errors).toEqual([]);
  });
});
