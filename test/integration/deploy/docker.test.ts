import { describe, expect, it } from "vitest";
import { exists, filesUnder, readText } from "./support/repo.js";

/**
 * The Dockerfile and .dockerignore, read as text (no Docker engine here): the image must be
 * multi-stage, production-only, non-root, health-checked, with only its two ports, and its build
 * context must let through exactly what the Dockerfile copies.
 */
interface Instruction {
  readonly stage: number;
  readonly op: string;
  readonly args: string;
}

function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, " ");
  let stage = -1;
  return joined
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [op = "", ...rest] = line.split(/\s+/);
      if (op.toUpperCase() === "FROM") stage += 1;
      return { stage, op: op.toUpperCase(), args: rest.join(" ") };
    });
}

/** Docker's .dockerignore rules: the last matching pattern wins; a pattern matches a path or a parent. */
function ignored(patterns: readonly string[], path: string): boolean {
  const toRegex = (pattern: string) =>
    new RegExp(
      `^${pattern
        .replace(/\/$/, "")
        .split("**")
        .map((part) =>
          part
            .replace(/[.+^${}()|[\]\\]/g, "\\$&")
            .replace(/\*/g, "[^/]*")
            .replace(/\?/g, "[^/]"),
        )
        .join(".*")}$`,
    );
  const prefixes = path.split("/").map((_, i, parts) => parts.slice(0, i + 1).join("/"));
  let result = false;
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const regex = toRegex(negated ? raw.slice(1) : raw);
    if (prefixes.some((prefix) => regex.test(prefix))) result = !negated;
  }
  return result;
}

/** The files a COPY glob such as `deploy/rules/*.yaml` picks (one directory level). */
function expand(glob: string): string[] {
  const dir = glob.slice(0, glob.lastIndexOf("/"));
  const name = new RegExp(
    `^${glob
      .slice(dir.length + 1)
      .replace(/[.]/g, "\\.")
      .replace(/\*/g, "[^/]*")}$`,
  );
  const matches = filesUnder(dir).filter((file) => name.test(file.slice(dir.length + 1)));
  expect(matches.length, glob).toBeGreaterThan(0);
  return matches;
}

const DOCKERFILE = instructions(readText("Dockerfile"));
const FINAL = Math.max(...DOCKERFILE.map((i) => i.stage));
const final = (op: string) => DOCKERFILE.filter((i) => i.stage === FINAL && i.op === op);
const IGNORE = readText(".dockerignore")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line !== "" && !line.startsWith("#"));

describe("Dockerfile", () => {
  it("builds in one stage and runs production dependencies only in the last", () => {
    expect(FINAL).toBeGreaterThanOrEqual(1);
    const builds = DOCKERFILE.filter((i) => i.stage < FINAL && i.op === "RUN").map((i) => i.args);
    expect(builds.some((args) => /npm ci\b/.test(args) && !args.includes("--omit=dev"))).toBe(true);
    expect(builds.some((args) => args.includes("npm run build"))).toBe(true);
    const runs = final("RUN").map((i) => i.args);
    expect(runs.some((args) => /npm ci\b.*--omit=dev/.test(args))).toBe(true);
    const copies = final("COPY").map((i) => i.args);
    expect(copies.some((args) => /--from=\S+\s+\/app\/dist\s/.test(args))).toBe(true);
    // The code finds proto/ from package.json's directory.
    expect(copies.some((args) => /^proto\s/.test(args))).toBe(true);
    expect(copies.some((args) => /^package\.json package-lock\.json/.test(args))).toBe(true);
  });

  it("runs as a non-root user, given by number", () => {
    const [user] = final("USER");
    expect(user?.args).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
  });

  it("exposes only the HTTP and gRPC ports, which are the ports it is configured with", () => {
    expect(
      final("EXPOSE")
        .flatMap((i) => i.args.split(/\s+/))
        .sort(),
    ).toEqual(["8080", "8081"]);
    const env = final("ENV")
      .map((i) => i.args)
      .join(" ");
    expect(env).toMatch(/HTTP_PORT=8080/);
    expect(env).toMatch(/GRPC_PORT=8081/);
  });

  it("reads its rules and keeps its embedded database on volumes", () => {
    const env = final("ENV")
      .map((i) => i.args)
      .join(" ");
    const rules = /RULES_PATH=(\S+)/.exec(env)?.[1];
    const data = /ADMIN_DATA_DIR=(\S+)/.exec(env)?.[1];
    const volumes = final("VOLUME").flatMap((i) => JSON.parse(i.args) as string[]);
    expect(volumes).toContain(rules);
    expect(volumes.some((v) => data === v || data?.startsWith(`${v}/`))).toBe(true);
  });

  it("has a HEALTHCHECK on /healthz that needs no curl", () => {
    const [check] = final("HEALTHCHECK");
    expect(check?.args).toMatch(/CMD \["node", "-e", .*\/healthz/);
    expect(check?.args).toMatch(/--timeout=\d+s/);
  });

  it("starts the CLI's serve command in exec form (Node receives SIGTERM itself)", () => {
    expect(final("ENTRYPOINT").map((i) => i.args)).toEqual(['["node", "dist/src/app/cli.js"]']);
    expect(final("CMD").map((i) => i.args)).toEqual(['["serve"]']);
    expect(exists("src/app/cli.ts")).toBe(true);
  });
});

describe(".dockerignore", () => {
  it("lets through every file the Dockerfile copies from the context", () => {
    const sources = DOCKERFILE.filter((i) => i.op === "COPY" && !i.args.startsWith("--from"))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1))
      .flatMap((source) => (source.includes("*") ? expand(source) : [source]));
    expect(sources.length).toBeGreaterThan(4);
    for (const source of sources) {
      expect(exists(source), source).toBe(true);
      expect(ignored(IGNORE, source), source).toBe(false);
    }
  });

  it("keeps out dependencies, build output, git, secrets and tests", () => {
    for (const path of [
      "node_modules/x",
      "dist/src/app/cli.js",
      ".git/config",
      ".env",
      "test/unit/a.ts",
      "deploy/k8s/base/secret.yaml",
    ]) {
      expect(ignored(IGNORE, path), path).toBe(true);
    }
  });
});
