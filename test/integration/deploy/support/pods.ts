import type { Resource } from "./kubernetes.js";
import { kindOf, nameOf } from "./kubernetes.js";
import type { Json } from "./repo.js";
import { asArray, at, isObject } from "./repo.js";

/** Helpers to walk the pods of rendered manifests. */

export interface Container extends Json {
  name: string;
}

export interface Pod {
  /** The workload (Deployment) name. */
  readonly owner: string;
  readonly replicas: number | undefined;
  readonly labels: Record<string, string>;
  readonly spec: Json;
  /** Init containers first (native sidecars are init containers), then the main containers. */
  readonly containers: Container[];
}

export function find(resources: readonly Resource[], kind: string, name: string): Json {
  const found = resources.find((r) => kindOf(r.value) === kind && nameOf(r.value) === name);
  if (found === undefined) throw new Error(`no ${kind} ${name}`);
  return found.value;
}

export function ofKind(resources: readonly Resource[], kind: string): Json[] {
  return resources.filter((r) => kindOf(r.value) === kind).map((r) => r.value);
}

export function pods(resources: readonly Resource[]): Pod[] {
  return ofKind(resources, "apps/v1/Deployment").map((deployment) => {
    const spec = at(deployment, "spec", "template", "spec") as Json;
    const containers = [
      ...(Array.isArray(spec.initContainers) ? spec.initContainers : []),
      ...asArray(spec.containers, "containers"),
    ] as Container[];
    const replicas = at(deployment, "spec") as { replicas?: number };
    return {
      owner: nameOf(deployment),
      replicas: replicas.replicas,
      labels: at(deployment, "spec", "template", "metadata", "labels") as Record<string, string>,
      spec,
      containers,
    };
  });
}

export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/** The container named `name` in some pod, with its pod. */
export function containerNamed(all: readonly Pod[], name: string): [Pod, Container][] {
  return all.flatMap((pod) =>
    pod.containers.filter((c) => c.name === name).map((c) => [pod, c] as [Pod, Container]),
  );
}

export function envOf(container: Container): Map<string, Json> {
  return new Map(
    (Array.isArray(container.env) ? container.env : []).filter(isObject).map((e) => [String(e.name), e]),
  );
}

export function envValue(container: Container, name: string): string | undefined {
  const value = envOf(container).get(name)?.value;
  return typeof value === "string" ? value : undefined;
}

export function portNames(container: Container): string[] {
  return (Array.isArray(container.ports) ? container.ports : []).map((p) => String(at(p, "name")));
}

/** The mount of `path` or of a parent directory of it, with the volume it mounts. */
export function mountFor(
  pod: Pod,
  container: Container,
  path: string,
): { mountPath: string; volume: Json } | undefined {
  const mounts = (Array.isArray(container.volumeMounts) ? container.volumeMounts : []).filter(isObject);
  const mount = mounts.find((m) => path === m.mountPath || path.startsWith(`${String(m.mountPath)}/`));
  if (mount === undefined) return undefined;
  const volume = asArray(pod.spec.volumes, "volumes").find((v) => isObject(v) && v.name === mount.name);
  if (!isObject(volume)) throw new Error(`${pod.owner}: volume ${String(mount.name)} is not defined`);
  return { mountPath: String(mount.mountPath), volume };
}
