import { existsSync, statSync } from "node:fs";
import { basename, join, normalize } from "node:path";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Job } from "kubernetes-models/batch/v1/Job";
import { Certificate } from "@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate";
import { Issuer } from "@kubernetes-models/cert-manager/cert-manager.io/v1/Issuer";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import ts from "typescript";
import { parseAllDocuments } from "yaml";
import type { Json } from "./repo.js";
import { isObject, loadOne, loadYaml, readText, repoPath } from "./repo.js";

/**
 * Kubernetes manifests, checked without a cluster or kustomize:
 * - `validateSchema`: the JSON schemas of the Kubernetes API (and of Prometheus Operator's CRDs)
 *   that the kubernetes-models packages compile in: types, required fields, enums, formats;
 * - `unknownFields`: the same packages' TypeScript types, through the compiler's excess-property
 *   check, because those schemas (like the API's own OpenAPI) accept unknown fields, and a typo
 *   such as `readinesProbe` would otherwise pass and be silently dropped by the API server;
 * - `loadKustomization`: what a kustomization directory would render, as far as these tests
 *   need: its resource documents, generated ConfigMaps, patches and nested kustomizations.
 */

interface Kind {
  readonly model: new (data: never) => { validate(): void };
  /** Module and interface name of the TypeScript type, for the excess-property check. */
  readonly module: string;
  readonly type: string;
}

const KINDS: Record<string, Kind> = {
  "v1/ConfigMap": { model: ConfigMap, module: "kubernetes-models/v1/ConfigMap", type: "IConfigMap" },
  "v1/Secret": { model: Secret, module: "kubernetes-models/v1/Secret", type: "ISecret" },
  "v1/Service": { model: Service, module: "kubernetes-models/v1/Service", type: "IService" },
  "apps/v1/Deployment": {
    model: Deployment,
    module: "kubernetes-models/apps/v1/Deployment",
    type: "IDeployment",
  },
  "batch/v1/Job": { model: Job, module: "kubernetes-models/batch/v1/Job", type: "IJob" },
  "networking.k8s.io/v1/NetworkPolicy": {
    model: NetworkPolicy,
    module: "kubernetes-models/networking.k8s.io/v1/NetworkPolicy",
    type: "INetworkPolicy",
  },
  "cert-manager.io/v1/Certificate": {
    model: Certificate,
    module: "@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate",
    type: "ICertificate",
  },
  "cert-manager.io/v1/Issuer": {
    model: Issuer,
    module: "@kubernetes-models/cert-manager/cert-manager.io/v1/Issuer",
    type: "IIssuer",
  },
  "policy/v1/PodDisruptionBudget": {
    model: PodDisruptionBudget,
    module: "kubernetes-models/policy/v1/PodDisruptionBudget",
    type: "IPodDisruptionBudget",
  },
  "autoscaling/v2/HorizontalPodAutoscaler": {
    model: HorizontalPodAutoscaler,
    module: "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler",
    type: "IHorizontalPodAutoscaler",
  },
  "monitoring.coreos.com/v1/ServiceMonitor": {
    model: ServiceMonitor,
    module: "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
    type: "IServiceMonitor",
  },
  "monitoring.coreos.com/v1/PrometheusRule": {
    model: PrometheusRule,
    module: "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule",
    type: "IPrometheusRule",
  },
};

export interface Resource {
  /** Where it comes from: a file (with document index) or a generator. */
  readonly source: string;
  readonly value: Json;
}

export function kindOf(resource: Json): string {
  return `${String(resource.apiVersion)}/${String(resource.kind)}`;
}

export function nameOf(resource: Json): string {
  return isObject(resource.metadata) ? String(resource.metadata.name) : "";
}

/** Schema problems of one resource; an unknown kind is a problem too (add it to KINDS). */
export function validateSchema(resource: Json): string[] {
  const kind = KINDS[kindOf(resource)];
  if (kind === undefined) return [`no schema for ${kindOf(resource)}: add it to KINDS in kubernetes.ts`];
  try {
    new kind.model(resource as never).validate();
    return [];
  } catch (error) {
    return [error instanceof Error ? error.message : String(error)];
  }
}

/**
 * Type-checks every resource as an object literal of its kind's TypeScript type, in one in-memory
 * program, and returns the compiler's complaints per resource source (excess properties, wrong
 * types, missing required fields).
 */
export function unknownFields(resources: readonly Resource[]): string[] {
  const file = repoPath("test/integration/deploy/__manifests__.ts");
  const lines: string[] = [];
  const spans: { source: string; start: number; end: number }[] = [];
  let offset = 0;
  const push = (line: string) => {
    lines.push(line);
    offset += line.length + 1;
  };
  resources.forEach((resource, i) => {
    const kind = KINDS[kindOf(resource.value)];
    if (kind === undefined) return;
    push(`import type { ${kind.type} as T${i} } from "${kind.module}";`);
  });
  resources.forEach((resource, i) => {
    if (KINDS[kindOf(resource.value)] === undefined) return;
    const start = offset;
    push(`export const r${i}: T${i} = ${JSON.stringify(resource.value)};`);
    spans.push({ source: resource.source, start, end: offset });
  });
  const source = lines.join("\n");
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
    lib: ["lib.es2022.d.ts"],
  };
  // A compiler host that sees one extra, in-memory file and the real disk for everything else.
  const disk = ts.createCompilerHost(options);
  const host: ts.CompilerHost = {
    ...disk,
    getSourceFile: (name, version, ...rest) =>
      name === file ? ts.createSourceFile(name, source, version) : disk.getSourceFile(name, version, ...rest),
    fileExists: (name) => name === file || disk.fileExists(name),
    readFile: (name) => (name === file ? source : disk.readFile(name)),
  };
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = spans.find(
      (s) => d.file?.fileName === file && (d.start ?? -1) >= s.start && (d.start ?? -1) < s.end,
    );
    const message = ts.flattenDiagnosticMessageText(d.messageText, " ");
    return `${where?.source ?? d.file?.fileName ?? "?"}: ${message.slice(0, 400)}`;
  });
}

// --- kustomize -------------------------------------------------------------------------------

const KUSTOMIZATION_NAMES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

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

export interface Kustomization {
  readonly dir: string;
  readonly file: string;
  readonly spec: Json;
  /** Documents of the `resources` that are files, and of nested kustomizations. */
  readonly resources: Resource[];
  /** configMapGenerator entries, here and in nested kustomizations. */
  readonly generated: Generated[];
  /** Patch documents (`patches: [{path}]` files and inline `patch` strings). */
  readonly patches: Resource[];
  /** Problems found while loading: missing files, unsupported fields. */
  readonly problems: string[];
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/** Loads a kustomization directory (repository-relative), following nested directories. */
export function loadKustomization(dir: string): Kustomization {
  const file = kustomizationFile(dir);
  if (file === undefined) throw new Error(`${dir}: no kustomization file`);
  const spec = loadOne(file);
  if (!isObject(spec)) throw new Error(`${file}: not a mapping`);
  const result: Kustomization = { dir, file, spec, resources: [], generated: [], patches: [], problems: [] };
  for (const entry of strings(spec.resources)) {
    const path = normalize(join(dir, entry));
    if (!existsSync(repoPath(path))) {
      result.problems.push(`${file}: resource ${entry} does not exist`);
    } else if (statSync(repoPath(path)).isDirectory()) {
      const nested = loadKustomization(path);
      result.resources.push(...nested.resources);
      result.generated.push(...nested.generated);
      result.problems.push(...nested.problems);
    } else {
      for (const doc of loadYaml(path)) {
        if (isObject(doc.value)) result.resources.push({ source: `${path}#${doc.index}`, value: doc.value });
        else result.problems.push(`${path}#${doc.index}: not a mapping`);
      }
    }
  }
  for (const generator of Array.isArray(spec.configMapGenerator) ? spec.configMapGenerator : []) {
    if (!isObject(generator)) continue;
    const files = strings(generator.files);
    for (const f of files) {
      const source = f.includes("=") ? f.slice(f.indexOf("=") + 1) : f;
      if (!existsSync(repoPath(join(dir, source))))
        result.problems.push(`${file}: generator file ${f} does not exist`);
      if (source.startsWith(".."))
        result.problems.push(`${file}: kustomize refuses files outside ${dir}: ${f}`);
    }
    result.generated.push({
      name: String(generator.name),
      dir,
      files,
      behavior: typeof generator.behavior === "string" ? generator.behavior : "create",
      options: isObject(generator.options) ? generator.options : {},
    });
  }
  for (const patch of Array.isArray(spec.patches) ? spec.patches : []) {
    if (!isObject(patch)) continue;
    if (typeof patch.path === "string") {
      const path = join(dir, patch.path);
      if (!existsSync(repoPath(path))) result.problems.push(`${file}: patch ${patch.path} does not exist`);
      else for (const doc of loadYaml(path)) result.patches.push({ source: path, value: doc.value as Json });
    } else if (typeof patch.patch === "string") {
      result.patches.push({ source: `${file} (inline patch)`, value: loadInline(patch.patch) });
    }
  }
  return result;
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

/**
 * What `kustomize build dir` would output, minus hash suffixes, labels and images: the resource
 * documents, generated ConfigMaps (a `behavior: replace` generator replaces the base's), and the
 * patches applied to the resources they name.
 */
export function render(dir: string): { resources: Resource[]; kustomization: Kustomization } {
  const kustomization = loadKustomization(dir);
  const resources = [...kustomization.resources];
  for (const generator of kustomization.generated) {
    const generated = generatedConfigMap(generator);
    const existing = resources.findIndex(
      (r) => kindOf(r.value) === "v1/ConfigMap" && nameOf(r.value) === generator.name,
    );
    if (generator.behavior === "replace" && existing < 0)
      throw new Error(`${dir}: nothing to replace for ${generator.name}`);
    if (existing >= 0) resources[existing] = generated;
    else resources.push(generated);
  }
  for (const patch of kustomization.patches) {
    const index = resources.findIndex(
      (r) => kindOf(r.value) === kindOf(patch.value) && nameOf(r.value) === nameOf(patch.value),
    );
    if (index < 0)
      throw new Error(`${patch.source}: no ${kindOf(patch.value)} ${nameOf(patch.value)} to patch`);
    const merged = strategicMerge(resources[index]!.value, patch.value) as Json;
    resources[index] = { source: `${resources[index]!.source} + ${patch.source}`, value: merged };
  }
  return { resources, kustomization };
}
