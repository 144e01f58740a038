import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { RulesError } from "./rules-errors.js";
import type { RuleIssue } from "./rules-errors.js";

/** One rules file as read from disk. `name` is its base name, `path` what messages show. */
export interface RulesFile {
  readonly path: string;
  readonly name: string;
  readonly bytes: Buffer;
}

const RULES_FILE = /\.ya?ml$/i;

/**
 * Reads RULES_PATH: a single file, or every `*.yaml`/`*.yml` directly inside a directory, sorted
 * by name. Dot entries are skipped: a Kubernetes ConfigMap mount holds `..data` and
 * `..2024_…` directories next to the user-visible `foo.yaml -> ..data/foo.yaml` symlinks, and the
 * symlinks are followed. A dangling symlink is skipped: it is what a ConfigMap key removed by the
 * current swap looks like for a moment. A path that does not exist is an error.
 */
export async function readRulesFiles(path: string): Promise<RulesFile[]> {
  const info = await statOrThrow(path);
  if (info.isFile()) {
    return [await readOne(path)];
  }
  if (!info.isDirectory()) {
    throw new RulesError([{ file: path, path: "", message: "RULES_PATH is neither a file nor a directory" }]);
  }
  const names = (await readdir(path)).filter((name) => !name.startsWith(".") && RULES_FILE.test(name));
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const issues: RuleIssue[] = [];
  const files: RulesFile[] = [];
  for (const name of names) {
    const file = join(path, name);
    try {
      if ((await stat(file)).isFile()) files.push(await readOne(file));
    } catch (error) {
      if (errorCode(error) !== "ENOENT") issues.push(ioIssue(file, error));
    }
  }
  if (issues.length > 0) throw new RulesError(issues);
  return files;
}

/**
 * sha256 (hex) over the files' names and bytes, in order. Equal inputs give equal RuleSets; the
 * watcher's poll compares it without parsing anything.
 */
export function digestFiles(files: readonly RulesFile[]): string {
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(`${file.name}\0${file.bytes.length}\0`);
    hash.update(file.bytes);
  }
  return hash.digest("hex");
}

async function statOrThrow(path: string): Promise<Awaited<ReturnType<typeof stat>>> {
  try {
    return await stat(path);
  } catch (error) {
    throw new RulesError([ioIssue(path, error)]);
  }
}

async function readOne(path: string): Promise<RulesFile> {
  try {
    return { path, name: basename(path), bytes: await readFile(path) };
  } catch (error) {
    throw new RulesError([ioIssue(path, error)]);
  }
}

function ioIssue(file: string, error: unknown): RuleIssue {
  const code = errorCode(error);
  const message =
    code === "ENOENT"
      ? "no such file or directory"
      : code === "EACCES"
        ? "permission denied"
        : `cannot read: ${error instanceof Error ? error.message : String(error)}`;
  return { file, path: "", message };
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}
