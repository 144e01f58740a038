import { describe, expect, it } from "vitest";
import type { Resource } from "./support/kubernetes.js";
import { kindOf, nameOf, unknownFields, validateSchema } from "./support/kubernetes.js";
import {
  containersOf,
  kustomizationFile,
  loadKustomization,
  parseImage,
  render,
  transformImage,
} from "./support/kustomize.js";
import { asArray, at, filesUnder, isObject, readText } from "./support/repo.js";

const VERSION = String((JSON.parse(readText("package.json")) as { version: unknown }).version);

/**
 * The kustomize base (sidecar layout) and the central overlay: every object validates against the
 * Kubernetes (and Prometheus Operator) schemas with no unknown field, and the kustomizations
 * reference files that exist, in a form kustomize accepts.
 */
const LAYOUTS = ["deploy/k8s/base", "deploy/k8s/central"];

describe.each(LAYOUTS)("%s", (dir) => {
  const { resources, problems } = render(dir);

  it("loads: every resource, generator file and patch exists, and every kustomize field is rendered", () => {
    expect(problems).toEqual([]);
    expect(resources.length).toBeGreaterThan(8);
  });

  it("every object validates against its Kubernetes schema", () => {
    const problems = resources.flatMap((r) => validateSchema(r.value).map((p) => `${r.source}: ${p}`));
    expect(problems).toEqual([]);
  });

  it("no object has a field its type does not know (a typo the API server would drop)", () => {
    expect(unknownFields(resources)).toEqual([]);
  });

  it("every container image has an explicit tag or digest (never latest), and Floodgate's is this version", () => {
    const images = resources.flatMap((r) =>
      containersOf(r.value).map((c) => ({ where: `${r.source} ${String(c.name)}`, image: String(c.image) })),
    );
    const floating = images.filter(({ image }) => {
      const { tag, digest } = parseImage(image);
      return digest === undefined && (tag === undefined || tag === "latest");
    });
    expect(floating).toEqual([]);
    const floodgate = images.filter(({ image }) => parseImage(image).name === "floodgate");
    // The Floodgate server (sidecar or Deployment) and the migration Job.
    expect(floodgate.length).toBeGreaterThanOrEqual(2);
    for (const { where, image } of floodgate) expect(image, where).toBe(`floodgate:${VERSION}`);
  });

  it("names are unique per kind", () => {
    const keys = resources.map((r) => `${kindOf(r.value)} ${nameOf(r.value)}`);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
  });

  it("has a Deployment, Service, ConfigMap, Secret, PodDisruptionBudget, ServiceMonitor and PrometheusRule", () => {
    const kinds = new Set(resources.map((r) => kindOf(r.value)));
    for (const kind of [
      "apps/v1/Deployment",
      "v1/Service",
      "v1/ConfigMap",
      "v1/Secret",
      "policy/v1/PodDisruptionBudget",
      "monitoring.coreos.com/v1/ServiceMonitor",
      "monitoring.coreos.com/v1/PrometheusRule",
    ]) {
      expect(kinds, kind).toContain(kind);
    }
  });
});

describe("kustomize specifics", () => {
  it("images are read and rewritten as kustomize does", () => {
    expect(parseImage("registry:5000/team/app:1.2@sha256:ab")).toEqual({
      name: "registry:5000/team/app",
      tag: "1.2",
      digest: "sha256:ab",
    });
    expect(parseImage("registry:5000/team/app")).toEqual({ name: "registry:5000/team/app" });
    const rules = [{ name: "floodgate", newName: "r.example/floodgate", newTag: "2.0" }];
    expect(transformImage("floodgate", rules)).toBe("r.example/floodgate:2.0");
    expect(transformImage("floodgate:1.0", rules)).toBe("r.example/floodgate:2.0");
    expect(transformImage("floodgate-other:1.0", rules)).toBe("floodgate-other:1.0");
    expect(transformImage("floodgate@sha256:ab", [{ name: "floodgate", newName: "x" }])).toBe("x@sha256:ab");
    expect(transformImage("floodgate:1", [{ name: "floodgate", digest: "sha256:cd" }])).toBe(
      "floodgate@sha256:cd",
    );
  });

  it("a base's images reach only the base's resources; a component's, all accumulated before it", () => {
    const fixtures = "test/integration/deploy/fixtures/kustomize";
    const images = (dir: string) =>
      Object.fromEntries(
        render(dir).resources.map((r) => [nameOf(r.value), containersOf(r.value).map((c) => c.image)]),
      );
    expect(images(`${fixtures}/base`)).toEqual({ base: ["web:1.0"] });
    expect(images(`${fixtures}/overlay`)).toEqual({
      base: ["registry.example/web:1.0"],
      overlay: ["registry.example/web"],
    });
    // A kustomize field the renderer does not implement is a problem, not silently ignored.
    expect(render(`${fixtures}/overlay`).problems).toEqual([
      expect.stringMatching(/overlay\/kustomization.yaml: namePrefix is not implemented/),
    ]);
  });

  it("the schema checks reject what they should", () => {
    const deployment = render("deploy/k8s/base").resources.find(
      (r) => kindOf(r.value) === "apps/v1/Deployment",
    )!;
    const broken = structuredClone(deployment.value);
    const spec = at(broken, "spec") as Record<string, unknown>;
    spec.replicas = "three";
    const container = at(broken, "spec", "template", "spec", "containers", 0) as Record<string, unknown>;
    container.readinesProbe = container.readinessProbe;
    expect(validateSchema(broken)).toEqual([expect.stringContaining("spec/replicas must be integer")]);
    const typed = unknownFields([{ source: "broken", value: broken }]);
    expect(typed.some((p) => p.includes("readinesProbe"))).toBe(true);
  });

  it("the rules ConfigMap holds every rules file, under a stable name (so changes hot-reload)", () => {
    const kustomization = loadKustomization("deploy/rules");
    const [generator] = kustomization.generated;
    const rulesFiles = filesUnder("deploy/rules")
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => f.slice("deploy/rules/".length));
    expect(generator?.name).toBe("floodgate-rules");
    expect([...(generator?.files ?? [])].sort()).toEqual(rulesFiles.sort());
    expect(generator?.options.disableNameSuffixHash).toBe(true);
  });

  it("kustomization files outside deploy/k8s are named so that Floodgate and Envoy ignore them", () => {
    // Floodgate loads every *.yaml in RULES_PATH: a kustomization.yaml there would be a bad rules file.
    expect(kustomizationFile("deploy/rules")).toBe("deploy/rules/Kustomization");
    expect(kustomizationFile("envoy")).toBe("envoy/Kustomization");
    expect(loadKustomization("envoy").generated.map((g) => [g.name, g.files])).toEqual([
      ["envoy-sidecar", ["envoy.yaml"]],
    ]);
  });

  it("the image is set in one place, a component both layouts use, and the Secret says loudly that it holds placeholders", () => {
    const image = loadKustomization("deploy/k8s/image");
    expect(image.kind).toBe("Component");
    expect(image.images).toEqual([{ name: "floodgate", newName: "floodgate", newTag: VERSION }]);
    for (const dir of LAYOUTS) {
      const layout = loadKustomization(dir);
      expect(layout.components, dir).toEqual(["deploy/k8s/image"]);
      expect(layout.images, dir).toEqual([]);
    }
    const secret = readText("deploy/k8s/base/secret.yaml");
    expect(secret).toMatch(/PLACEHOLDER/);
    expect(secret).toMatch(/CHANGE-ME/);
  });

  it("the PrometheusRule and ServiceMonitor target Floodgate's metrics Service", () => {
    const { resources } = render("deploy/k8s/base");
    const find = (kind: string, name: string): Resource["value"] => {
      const found = resources.find((r) => kindOf(r.value) === kind && nameOf(r.value) === name);
      if (found === undefined) throw new Error(`no ${kind} ${name}`);
      return found.value;
    };
    const monitor = find("monitoring.coreos.com/v1/ServiceMonitor", "floodgate");
    const selector = at(monitor, "spec", "selector", "matchLabels") as Record<string, string>;
    const services = resources.filter((r) => kindOf(r.value) === "v1/Service");
    const selected = services.filter((s) => {
      const labels = (at(s.value, "metadata") as { labels?: Record<string, string> }).labels ?? {};
      return Object.entries(selector).every(([k, v]) => labels[k] === v);
    });
    expect(selected.map((s) => nameOf(s.value))).toEqual(["floodgate-http"]);
    const portNames = asArray(at(selected[0]!.value, "spec", "ports"), "ports").map((p) => at(p, "name"));
    for (const endpoint of asArray(at(monitor, "spec", "endpoints"), "endpoints")) {
      expect(portNames).toContain(at(endpoint, "port"));
      expect(at(endpoint, "path")).toBe("/metrics");
    }
    expect(isObject(find("monitoring.coreos.com/v1/PrometheusRule", "floodgate"))).toBe(true);
  });
});
