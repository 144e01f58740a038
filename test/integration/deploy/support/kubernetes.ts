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
import type { Json } from "./repo.js";
import { isObject, repoPath } from "./repo.js";

/**
 * Kubernetes manifests, checked without a cluster or kustomize:
 * - `validateSchema`: the JSON schemas of the Kubernetes API (and of Prometheus Operator's CRDs)
 *   that the kubernetes-models packages compile in: types, required fields, enums, formats;
 * - `unknownFields`: the same packages' TypeScript types, through the compiler's excess-property
 *   check, because those schemas (like the API's own OpenAPI) accept unknown fields, and a typo
 *   such as `readinesProbe` would otherwise pass and be silently dropped by the API server.
 * What a kustomization renders comes from kustomize.ts.
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
