import { existsSync, statSync } from "node:fs";
import { basename, join, normalize } from "node:path";
import { parseAllDocuments } from "yaml";
import type { Resource } from "./kubernetes.js";
import { kindOf, nameOf } from "./kubernetes.js";
import type { Json } from "./repo.js";
import { isObject, loadOne, loadYaml, readText, repoPath } from "./repo.js";

/**
 * What `kubectl kustomize <dir>` renders, for the kustomize features this repository uses, in the
 * order kustomize applies them at each level (a kustomization or a component):
 *
 * 1. `resources`, in the order listed: a file's documents, or a directory's own rendering (so a
 *    base's `images:` apply to the base's resources only, never to an overlay's);
 * 2. `components`: each transforms everything accumulated so far with its own steps;
 * 3. `configMapGenerator` (files only; `behavior: replace` and `merge` act on an existing one);
 * 4. `patches` (strategic merge, by kind and name), then `labels` (metadata only), then `images`.
 *
 * Generated ConfigMaps keep their name without kustomize's hash suffix: kustomize rewrites every
 * reference to match, so names agree either way. Any other kustomization field, or an option of
 * these that is not implemented here, is reported as a problem: a new kustomize feature in deploy/
 * then fails the tests instead of being rendered wrong.
 */

const KUSTOMIZATION_NAMES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

const FIELDS = new Set([
  "apiVersion",
  "kind",
  "resources",
  "components",
  "configMapGenerator",
  "patches",
  "labels",
  "images",
]);

const KINDS: Record<string, string> = {
  Kustomization: "kustomize.config.k8s.io/v1beta1",
  Component: "kustomize.config.k8s.io/v1alpha1",
};

export function kustomizationFile(dir: string): string | undefined {
  return KUSTOMIZATION_NAMES.map((name) => join(dir, name)).find((path) => existsSync(repoPath(path)));
}

export interface Generated {
  readonly name: string;
  readonly dir: string;
  readonly files: readonly string[];
  readonly behavior: string;
  readonly options: Json;
}

/** One entry of `images:`: which image name to change, and to what. */
export interface ImageRule {
  readonly name: string;
  readonly newName?: string;
  readonly newTag?: string;
  readonly digest?: string;
}

/** One level: a kustomization or component file, with its paths resolved from the repository root. */
export interface Kustomization {
  readonly dir: string;
  readonly file: string;
  readonly kind: string;
  readonly spec: Json;
  /** `resources`, in order: a file's documents, or a directory to render. */
  readonly resources: ({ documents: Resource[] } | { directory: string })[];
  readonly components: string[];
  readonly generated: Generated[];
  /** Patch documents (`patches: [{path}]` files and inline `patch` strings). */
  readonly patches: Resource[];
  readonly labels: Record<string, string>;
  readonly images: ImageRule[];
  /** Problems found while loading: missing files, unsupported fields. */
  readonly problems: string[];
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

function objects(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

/** Loads one kustomization (or component) directory, repository-relative, without rendering it. */
export function loadKustomization(dir: string): Kustomization {
  const file = kustomizationFile(dir);
  if (file === undefined) throw new Error(`${dir}: no kustomization file`);
  const spec = loadOne(file);
  if (!isObject(spec)) throw new Error(`${file}: not a mapping`);
  const kind = String(spec.kind);
  const problems = Object.keys(spec)
    .filter((field) => !FIELDS.has(field))
    .map((field) => `${file}: ${field} is not implemented by test/integration/deploy/support/kustomize.ts`);
  if (KINDS[kind] !== spec.apiVersion)
    problems.push(`${file}: unexpected ${String(spec.apiVersion)} ${kind}`);
  return {
    dir,
    file,
    kind,
    spec,
    resources: strings(spec.resources).map((entry) => resourceEntry(dir, file, entry, problems)),
    components: strings(spec.components).map((entry) => normalize(join(dir, entry))),
    generated: objects(spec.configMapGenerator).map((g) => generator(dir, file, g, problems)),
    patches: objects(spec.patches).flatMap((p) => patchDocuments(dir, file, p, problems)),
    labels: labelsOf(file, spec.labels, problems),
    images: objects(spec.images).map((rule) => imageRule(file, rule, problems)),
    problems,
  };
}

function resourceEntry(
  dir: string,
  file: string,
  entry: string,
  problems: string[],
): { documents: Resource[] } | { directory: string } {
  const path = normalize(join(dir, entry));
  if (!existsSync(repoPath(path))) {
    problems.push(`${file}: resource ${entry} does not exist`);
    return { documents: [] };
  }
  if (statSync(repoPath(path)).isDirectory()) return { directory: path };
  const documents: Resource[] = [];
  for (const doc of loadYaml(path)) {
    if (isObject(doc.value)) documents.push({ source: `${path}#${doc.index}`, value: doc.value });
    else problems.push(`${path}#${doc.index}: not a mapping`);
  }
  return { documents };
}

function generator(dir: string, file: string, spec: Json, problems: string[]): Generated {
  for (const field of Object.keys(spec).filter((f) => !["name", "files", "behavior", "options"].includes(f)))
    problems.push(`${file}: configMapGenerator ${field} is not implemented`);
  const files = strings(spec.files);
  for (const f of files) {
    const source = f.includes("=") ? f.slice(f.indexOf("=") + 1) : f;
    if (!existsSync(repoPath(join(dir, source))))
      problems.push(`${file}: generator file ${f} does not exist`);
    if (source.startsWith("..")) problems.push(`${file}: kustomize refuses files outside ${dir}: ${f}`);
  }
  return {
    name: String(spec.name),
    dir,
    files,
    behavior: typeof spec.behavior === "string" ? spec.behavior : "create",
    options: isObject(spec.options) ? spec.options : {},
  };
}

function patchDocuments(dir: string, file: string, patch: Json, problems: string[]): Resource[] {
  if (patch.target !== undefined || patch.options !== undefined) {
    problems.push(`${file}: patches with a target or options (JSON 6902) are not implemented`);
    return [];
  }
  if (typeof patch.path === "string") {
    const path = join(dir, patch.path);
    if (!existsSync(repoPath(path))) {
      problems.push(`${file}: patch ${patch.path} does not exist`);
      return [];
    }
    return loadYaml(path).map((doc) => ({ source: path, value: doc.value as Json }));
  }
  if (typeof patch.patch === "string")
    return [{ source: `${file} (inline patch)`, value: loadInline(patch.patch) }];
  problems.push(`${file}: a patch without path or patch`);
  return [];
}

function labelsOf(file: string, value: unknown, problems: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const entry of objects(value)) {
    if (entry.includeSelectors === true || entry.includeTemplates === true || entry.fields !== undefined)
      problems.push(`${file}: labels beyond metadata (selectors, templates, fields) are not implemented`);
    Object.assign(labels, isObject(entry.pairs) ? entry.pairs : {});
  }
  return labels;
}

function imageRule(file: string, rule: Json, problems: string[]): ImageRule {
  const text = (key: string): string | undefined => {
    const value = rule[key];
    if (value === undefined || typeof value === "string") return value;
    problems.push(`${file}: images ${key} must be a string (quote a numeric tag)`);
    return JSON.stringify(value);
  };
  for (const field of Object.keys(rule).filter((f) => !["name", "newName", "newTag", "digest"].includes(f)))
    problems.push(`${file}: images ${field} is not implemented`);
  return {
    name: String(rule.name),
    newName: text("newName"),
    newTag: text("newTag"),
    digest: text("digest"),
  };
}

/** Inline patches are YAML strings inside the kustomization: parse them the same strict way. */
function loadInline(text: string): Json {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const doc = Array.isArray(docs) ? docs[0] : undefined;
  if (doc === undefined || doc.errors.length > 0) throw new Error(`inline patch: ${String(doc?.errors)}`);
  const value: unknown = doc.toJS();
  if (!isObject(value)) throw new Error("inline patch: not a mapping");
  return value;
}

/** The ConfigMap a generator produces (without kustomize's hash suffix). */
export function generatedConfigMap(generator: Generated): Resource {
  const data: Record<string, string> = {};
  for (const entry of generator.files) {
    const [key, path] = entry.includes("=") ? entry.split("=", 2) : [basename(entry), entry];
    data[key!] = readText(join(generator.dir, path!));
  }
  return {
    source: `configMapGenerator ${generator.name} in ${generator.dir}`,
    value: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: generator.name }, data },
  };
}

/**
 * A strategic merge patch, as far as our overlays use it: maps merge, lists of named items merge by
 * name, and `$patch: delete` on a named item removes it. A list of unnamed items (a
 * ServiceMonitor's `endpoints`) is replaced whole, as kustomize does for custom resources, whose
 * lists have no merge key.
 */
export function strategicMerge(target: unknown, patch: unknown): unknown {
  const named = (list: unknown[]) => list.every((item) => isObject(item) && typeof item.name === "string");
  if (Array.isArray(target) && Array.isArray(patch) && !named(patch)) return patch;
  if (Array.isArray(target) && Array.isArray(patch)) {
    const result = [...target] as unknown[];
    for (const item of patch) {
      const name = isObject(item) ? item.name : undefined;
      const index = result.findIndex((t) => isObject(t) && name !== undefined && t.name === name);
      if (isObject(item) && item.$patch === "delete") {
        if (index < 0) throw new Error(`$patch: delete of ${String(name)}, which does not exist`);
        result.splice(index, 1);
      } else if (index >= 0) result[index] = strategicMerge(result[index], item);
      else result.push(item);
    }
    return result;
  }
  if (isObject(target) && isObject(patch)) {
    const result: Json = { ...target };
    for (const [key, value] of Object.entries(patch)) result[key] = strategicMerge(target[key], value);
    return result;
  }
  return patch;
}

/** An image reference split as kustomize does: name, then `:tag` after the last `/`, then `@digest`. */
export function parseImage(image: string): { name: string; tag?: string; digest?: string } {
  const at = image.indexOf("@");
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const rest = at >= 0 ? image.slice(0, at) : image;
  const colon = rest.lastIndexOf(":");
  const tagged = colon > rest.lastIndexOf("/");
  return {
    name: tagged ? rest.slice(0, colon) : rest,
    ...(tagged ? { tag: rest.slice(colon + 1) } : {}),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** kustomize's image transformer on one reference: the first rule whose name matches applies. */
export function transformImage(image: string, rules: readonly ImageRule[]): string {
  const { name, tag, digest } = parseImage(image);
  const rule = rules.find((r) => r.name === name);
  if (rule === undefined) return image;
  const newName = rule.newName ?? name;
  if (rule.digest !== undefined) return `${newName}@${rule.digest}`;
  if (rule.newTag !== undefined) return `${newName}:${rule.newTag}`;
  return `${newName}${tag === undefined ? "" : `:${tag}`}${digest === undefined ? "" : `@${digest}`}`;
}

/** Every `containers` and `initContainers` entry anywhere in a resource (pods, templates, jobs). */
export function containersOf(value: unknown): Json[] {
  if (Array.isArray(value)) return value.flatMap(containersOf);
  if (!isObject(value)) return [];
  return Object.entries(value).flatMap(([key, child]) =>
    (key === "containers" || key === "initContainers") && Array.isArray(child)
      ? child.filter(isObject)
      : containersOf(child),
  );
}

function withImages(resource: Resource, rules: readonly ImageRule[]): Resource {
  if (rules.length === 0) return resource;
  const value = structuredClone(resource.value);
  for (const container of containersOf(value)) {
    if (typeof container.image === "string") container.image = transformImage(container.image, rules);
  }
  return { source: resource.source, value };
}

function withLabels(resource: Resource, labels: Record<string, string>): Resource {
  if (Object.keys(labels).length === 0) return resource;
  const metadata = isObject(resource.value.metadata) ? resource.value.metadata : {};
  const existing = isObject(metadata.labels) ? metadata.labels : {};
  return {
    source: resource.source,
    value: { ...resource.value, metadata: { ...metadata, labels: { ...existing, ...labels } } },
  };
}

function generate(level: Kustomization, resources: Resource[]): Resource[] {
  const result = [...resources];
  for (const generator of level.generated) {
    const generated = generatedConfigMap(generator);
    const existing = result.findIndex(
      (r) => kindOf(r.value) === "v1/ConfigMap" && nameOf(r.value) === generator.name,
    );
    if (generator.behavior !== "create" && existing < 0)
      throw new Error(`${level.file}: nothing to ${generator.behavior} for ${generator.name}`);
    if (generator.behavior === "create" && existing >= 0)
      throw new Error(`${level.file}: ConfigMap ${generator.name} exists already`);
    if (generator.behavior === "merge") {
      const data = {
        ...(at(result[existing]!.value, "data") as Json),
        ...(at(generated.value, "data") as Json),
      };
      result[existing] = { source: generated.source, value: { ...result[existing]!.value, data } };
    } else if (existing >= 0) result[existing] = generated;
    else result.push(generated);
  }
  return result;
}

function at(value: Json, key: string): unknown {
  return isObject(value[key]) ? value[key] : {};
}

function patch(level: Kustomization, resources: Resource[]): Resource[] {
  let result = [...resources];
  for (const p of level.patches) {
    const index = result.findIndex(
      (r) => kindOf(r.value) === kindOf(p.value) && nameOf(r.value) === nameOf(p.value),
    );
    if (index < 0) throw new Error(`${p.source}: no ${kindOf(p.value)} ${nameOf(p.value)} to patch`);
    if (p.value.$patch === "delete") {
      result = result.filter((_, i) => i !== index);
      continue;
    }
    const merged = strategicMerge(result[index]!.value, p.value) as Json;
    result[index] = { source: `${result[index]!.source} + ${p.source}`, value: merged };
  }
  return result;
}

/** One level, on top of `accumulated` (what a component transforms; empty for a kustomization). */
function build(dir: string, kind: string, accumulated: Resource[], problems: string[]): Resource[] {
  const level = loadKustomization(dir);
  problems.push(...level.problems);
  if (level.kind !== kind) problems.push(`${level.file}: a ${level.kind} where a ${kind} is expected`);
  let resources = [...accumulated];
  for (const entry of level.resources) {
    if ("directory" in entry) resources.push(...build(entry.directory, "Kustomization", [], problems));
    else resources.push(...entry.documents);
  }
  for (const component of level.components) resources = build(component, "Component", resources, problems);
  resources = patch(level, generate(level, resources));
  return resources.map((r) => withImages(withLabels(r, level.labels), level.images));
}

/** What `kubectl kustomize dir` would output (see the top of this file), and the problems found. */
export function render(dir: string): { resources: Resource[]; problems: string[] } {
  const problems: string[] = [];
  const resources = build(dir, "Kustomization", [], problems);
  return { resources, problems };
}
