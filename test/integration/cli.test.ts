import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUILT_CLI } from "../../bench/built-cli.js";
import { CLI_PATH } from "../harness/floodgate-process.js";

// The built CLI (make test builds before running vitest), exactly as users run it.
const CLI = CLI_PATH;
const FIXTURES = join(import.meta.dirname, "../fixtures/rules");

function run(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env["PATH"] ?? "", ...env },
    encoding: "utf8",
    timeout: 15_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("floodgate CLI", () => {
  it("is what package.json installs, for the tests and the bench alike", () => {
    const root = join(import.meta.dirname, "../..");
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      bin: { floodgate: string };
    };
    expect([CLI_PATH, BUILT_CLI]).toEqual([join(root, pkg.bin.floodgate), join(root, pkg.bin.floodgate)]);
  });

  it("validates the shipped rules", () => {
    const res = run(["config", "validate", join(import.meta.dirname, "../../deploy/rules")]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/api/);
    expect(res.stdout).toMatch(/edge/);
  });

  it("exits non-zero with the file and YAML path of each error", () => {
    const res = run(["config", "validate", join(FIXTURES, "invalid", "bad-unit.yaml")]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/bad-unit\.yaml/);
    expect(res.stderr).toMatch(/rate_limit\.unit/);
  });

  it("warns about keys that have no effect, and refuses them with --strict", () => {
    const file = join(FIXTURES, "lenient", "misplaced-keys.yaml");
    const lenient = run(["config", "validate", file]);
    expect(lenient.code).toBe(0);
    expect(lenient.stdout).toMatch(/OK, 1 domain, 1 rule .*, 4 warnings/);
    expect(lenient.stdout).toMatch(
      /^warning: .*misplaced-keys\.yaml:7: descriptors\[0\]\.name: has no effect/m,
    );
    const strict = run(["config", "validate", "--strict", file]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/4 errors/);
    expect(strict.stderr).toMatch(/rate_limit\.shadow_mode: has no effect.*--strict refuses it/);
  });

  it("prints the config validate usage for a missing PATH or an unknown flag", () => {
    for (const args of [
      ["config", "validate"],
      ["config", "validate", "--bogus", "x"],
    ]) {
      const res = run(args);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(
        /usage: floodgate config validate \[--strict\] \[--merge-domain-config\] PATH/,
      );
    }
  });

  it("refuses to serve with an invalid setting and names the variable", () => {
    const res = run(["serve"], { GRPC_PORT: "eighty", REDIS_URL: "http://user:hunter2@x" });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/GRPC_PORT/);
    expect(res.stderr).toMatch(/REDIS_URL/);
    expect(res.stderr).not.toMatch(/hunter2/);
  });

  it("refuses to serve when the rules path does not exist", () => {
    const res = run(["serve"], { RULES_PATH: "/nonexistent/rules", GRPC_PORT: "0", HTTP_PORT: "0" });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/\/nonexistent\/rules/);
  });

  it.each([
    [
      "an unreadable Redis TLS file",
      { REDIS_URL: "rediss://127.0.0.1:1", REDIS_TLS_CA_FILE: "/nonexistent/redis-ca.pem" },
      'REDIS_TLS_CA_FILE: cannot read "/nonexistent/redis-ca.pem" (ENOENT)',
    ],
    [
      "a Redis URL whose database is not a number",
      { REDIS_URL: "redis://u:hunter2@127.0.0.1:1/x" },
      "REDIS_URL: the database (the URL's path) must be a non-negative integer",
    ],
    ["a Redis URL without a host", { REDIS_URL: "redis://" }, "REDIS_URL: must name a host"],
    [
      "Redis TLS files while TLS is off",
      { REDIS_URL: "redis://127.0.0.1:1", REDIS_TLS_CA_FILE: "/nonexistent/redis-ca.pem" },
      "REDIS_TLS_CA_FILE: set, but TLS is off (use a rediss:// URL or REDIS_TLS=true)",
    ],
  ])("refuses to serve with %s: exit 2, the setting named, no stack trace", (_case, env, problem) => {
    const res = run(["serve"], { ...env, GRPC_PORT: "0", HTTP_PORT: "0", LOG_LEVEL: "silent" });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(`floodgate: invalid settings: ${problem}\n`);
  });

  it("prints usage for an unknown command", () => {
    const res = run(["frobnicate"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/Usage: floodgate/);
  });
});
