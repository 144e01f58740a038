import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseAllDocuments } from "yaml";

/** The repository root, and helpers to read the deployment files under it. */
export const ROOT = join(import.meta.dirname, "../../../..");

export function repoPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}

export function readText(path: string): string {
  return readFileSync(repoPath(path), "utf8");
}

export function exists(path: string): boolean {
  return existsSync(repoPath(path));
}

/** Every file under `dir` (repository-relative), depth first, sorted. */
export function filesUnder(dir: string): string[] {
  const walk = (abs: string): string[] =>
    readdirSync(abs)
      .sort()
      .flatMap((name) => {
        const path = join(abs, name);
        return statSync(path).isDirectory() ? walk(path) : [relative(ROOT, path)];
      });
  return walk(repoPath(dir));
}

/** YAML files: `*.yaml`, `*.yml`, and kustomize's extension-less `Kustomization`. */
export function isYamlFile(path: string): boolean {
  return /\.ya?ml$/.test(path) || /(^|\/)Kustomization$/.test(path);
}

export interface YamlDoc {
  readonly file: string;
  readonly index: number;
  readonly value: unknown;
}

/**
 * Parses every document of a YAML file strictly: a syntax error, a duplicate key or an unresolved
 * alias throws with the file name in the message. Empty documents (a trailing `---`) are skipped.
 */
export function loadYaml(path: string): YamlDoc[] {
  const docs = parseAllDocuments(readText(path), { uniqueKeys: true, prettyErrors: true });
  if (!Array.isArray(docs)) throw new Error(`${path}: not a YAML stream`);
  return docs.flatMap((doc, index) => {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${path} (document ${index}): ${problems.join("; ")}`);
    const value: unknown = doc.toJS({ maxAliasCount: 0 });
    return value === null || value === undefined ? [] : [{ file: path, index, value }];
  });
}

/** The single document of a YAML file. */
export function loadOne(path: string): unknown {
  const docs = loadYaml(path);
  if (docs.length !== 1) throw new Error(`${path}: expected one YAML document, found ${docs.length}`);
  return docs[0]!.value;
}

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Follows a path of keys and indexes; throws with the path when a step is missing. */
export function at(value: unknown, ...path: (string | number)[]): unknown {
  let node = value;
  for (const [i, step] of path.entries()) {
    const next: unknown =
      typeof step === "number"
        ? Array.isArray(node)
          ? node[step]
          : undefined
        : isObject(node)
          ? node[step]
          : undefined;
    if (next === undefined) throw new Error(`missing ${path.slice(0, i + 1).join(".")}`);
    node = next;
  }
  return node;
}

/** An Envoy cluster's first upstream: load_assignment.endpoints[0].lb_endpoints[0]…socket_address. */
export function socketAddress(cluster: unknown): Json {
  return at(
    cluster,
    "load_assignment",
    "endpoints",
    0,
    "lb_endpoints",
    0,
    "endpoint",
    "address",
    "socket_address",
  ) as Json;
}

export function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${what}: expected a list`);
  return value;
}
