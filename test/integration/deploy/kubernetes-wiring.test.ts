import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { parseChainKeys } from "../../../src/admin/postgres/chain-key.js";
import { createAuthenticator } from "../../../src/admin/auth/authenticator.js";
import { loadSettings, SETTING_NAMES } from "../../../src/config/settings.js";
import { containersOf, parseImage, render } from "./support/kustomize.js";
import type { Container, Pod } from "./support/pods.js";
import {
  containerNamed,
  envOf,
  envValue,
  find,
  mountFor,
  ofKind,
  pods,
  portNames,
  selects,
} from "./support/pods.js";
import type { Json } from "./support/repo.js";
import { asArray, at, isObject, loadOne, socketAddress } from "./support/repo.js";

/** How the objects of each layout fit together: what a `kubectl apply` would only reveal at run time. */
const BASE = render("deploy/k8s/base").resources;
const CENTRAL = render("deploy/k8s/central").resources;

function secretValue(resources: typeof BASE, ref: unknown): string {
  const secret = find(resources, "v1/Secret", String(at(ref, "name")));
  const value = (at(secret, "stringData") as Record<string, string>)[String(at(ref, "key"))];
  if (value === undefined) throw new Error(`secret key ${String(at(ref, "key"))} is missing`);
  return value;
}

/** The environment Floodgate would see in `container`, secrets resolved. */
function environment(resources: typeof BASE, container: Container): Record<string, string> {
  return Object.fromEntries(
    [...envOf(container)].map(([name, entry]) => [
      name,
      typeof entry.value === "string"
        ? entry.value
        : secretValue(resources, at(entry, "valueFrom", "secretKeyRef")),
    ]),
  );
}

/** The targetPort (a container port's name or number) behind `port` of the Service `name`. */
function targetPort(resources: typeof BASE, name: string, port: unknown): unknown {
  const ports = asArray(at(find(resources, "v1/Service", name), "spec", "ports"), "ports");
  const found = ports.find((p) => at(p, "port") === port);
  if (found === undefined) throw new Error(`Service ${name} has no port ${String(port)}`);
  return at(found, "targetPort");
}

describe.each([
  ["sidecar (base)", BASE],
  ["central", CENTRAL],
] as const)("%s layout", (_layout, resources) => {
  const all = pods(resources);
  const floodgates = containerNamed(all, "floodgate");

  it("runs exactly one Floodgate container per pod that has one", () => {
    expect(floodgates.length).toBe(1);
  });

  it("every ConfigMap, Secret and key a pod uses exists", () => {
    for (const pod of all) {
      for (const volume of asArray(pod.spec.volumes ?? [], "volumes").filter(isObject)) {
        if (isObject(volume.configMap)) find(resources, "v1/ConfigMap", String(volume.configMap.name));
        if (isObject(volume.secret)) {
          for (const item of asArray(volume.secret.items ?? [], "items")) {
            secretValue(resources, { name: volume.secret.secretName, key: at(item, "key") });
          }
        }
      }
      for (const container of pod.containers) {
        for (const entry of envOf(container).values()) {
          if (isObject(entry.valueFrom)) secretValue(resources, at(entry, "valueFrom", "secretKeyRef"));
        }
        for (const mount of asArray(container.volumeMounts ?? [], "volumeMounts")) {
          expect(mountFor(pod, container, String(at(mount, "mountPath"))), `${container.name}`).toBeDefined();
        }
      }
    }
  });

  it("every Service, PodDisruptionBudget and autoscaler finds its target", () => {
    for (const service of ofKind(resources, "v1/Service")) {
      const selector = at(service, "spec", "selector") as Record<string, string>;
      const matched = all.filter((pod) => selects(selector, pod.labels));
      expect(matched.length, `Service ${String(at(service, "metadata", "name"))}`).toBe(1);
      const names = matched[0]!.containers.flatMap(portNames);
      for (const port of asArray(at(service, "spec", "ports"), "ports")) {
        const target = at(port, "targetPort");
        if (typeof target === "string")
          expect(names, `Service port ${String(at(port, "name"))}`).toContain(target);
      }
    }
    for (const pdb of ofKind(resources, "policy/v1/PodDisruptionBudget")) {
      const selector = at(pdb, "spec", "selector", "matchLabels") as Record<string, string>;
      expect(all.filter((pod) => selects(selector, pod.labels))).toHaveLength(1);
    }
    for (const hpa of ofKind(resources, "autoscaling/v2/HorizontalPodAutoscaler")) {
      expect(all.map((p) => p.owner)).toContain(at(hpa, "spec", "scaleTargetRef", "name"));
    }
  });

  it("probes on a named port use a port of their own container (names do not cross containers)", () => {
    for (const pod of all) {
      for (const container of pod.containers) {
        for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
          const spec = container[probe];
          const action = isObject(spec) ? (spec.httpGet ?? spec.tcpSocket ?? spec.grpc) : undefined;
          const port = isObject(action) ? action.port : undefined;
          if (typeof port === "string")
            expect(portNames(container), `${container.name} ${probe}`).toContain(port);
        }
      }
    }
  });

  it("every container runs unprivileged, with requests and a memory limit", () => {
    for (const pod of all) {
      expect(at(pod.spec, "securityContext", "runAsNonRoot")).toBe(true);
      for (const container of pod.containers) {
        const security = at(container, "securityContext") as Json;
        expect(security.allowPrivilegeEscalation, container.name).toBe(false);
        expect(security.readOnlyRootFilesystem, container.name).toBe(true);
        expect(security.runAsUser, container.name).toBeGreaterThan(0);
        expect(at(container, "securityContext", "capabilities", "drop")).toEqual(["ALL"]);
        expect(isObject(at(container, "resources", "requests")), container.name).toBe(true);
        expect(at(container, "resources", "limits", "memory"), container.name).toBeDefined();
      }
    }
  });

  it("Floodgate: every container of its image (server and migration Job) sets only settings it reads, and they load", () => {
    // NODE_OPTIONS is read by Node.js itself.
    const known = new Set([...SETTING_NAMES, "NODE_OPTIONS"]);
    const ours = resources.flatMap((r) =>
      containersOf(r.value)
        .filter((c) => parseImage(String(c.image)).name === "floodgate")
        .map((c) => ({ where: `${r.source} ${String(c.name)}`, container: c as Container })),
    );
    expect(ours.length).toBeGreaterThanOrEqual(2);
    const unknown = ours.flatMap(({ where, container }) =>
      [...envOf(container).keys()].filter((name) => !known.has(name)).map((name) => `${where}: ${name}`),
    );
    expect(unknown).toEqual([]);
    const [, container] = floodgates[0]!;
    expect(() => loadSettings(environment(resources, container))).not.toThrow();
  });

  it("Floodgate: its ports are those its settings listen on, and Envoy asks the gRPC one", () => {
    const [, container] = floodgates[0]!;
    const settings = loadSettings(environment(resources, container));
    const declared = Object.fromEntries(
      asArray(container.ports, "ports").map((p) => [String(at(p, "name")), at(p, "containerPort")]),
    );
    expect(declared).toEqual({
      "floodgate-grpc": settings.grpcPort,
      "floodgate-http": settings.httpPort,
      ...(settings.adminGrpcPort === undefined ? {} : { "floodgate-admin": settings.adminGrpcPort }),
    });
    for (const name of ["startupProbe", "livenessProbe", "readinessProbe"]) {
      const probe = container[name];
      const action = isObject(probe) ? (probe.httpGet ?? probe.tcpSocket ?? probe.grpc) : undefined;
      const port = isObject(action) ? action.port : undefined;
      if (typeof port === "number") expect(Object.values(declared), name).toContain(port);
    }
    // Envoy's ratelimit cluster: Floodgate's gRPC port over 127.0.0.1, or a Service port leading to it.
    const envoyConfig = find(resources, "v1/ConfigMap", "envoy-sidecar");
    const clusters = asArray(
      at(parse(String(at(envoyConfig, "data", "envoy.yaml"))), "static_resources", "clusters"),
      "clusters",
    );
    const upstream = socketAddress(clusters.find((c) => isObject(c) && c.name === "ratelimit"));
    const reached =
      upstream.address === "127.0.0.1"
        ? upstream.port_value
        : declared[String(targetPort(resources, String(upstream.address), upstream.port_value))];
    expect(reached).toBe(settings.grpcPort);
  });

  it("Floodgate: rules and admin keys are mounted where its settings point", () => {
    const [pod, container] = floodgates[0]!;
    const rules = mountFor(pod, container, envValue(container, "RULES_PATH")!);
    expect(rules?.mountPath).toBe(envValue(container, "RULES_PATH"));
    expect(at(rules?.volume, "configMap", "name")).toBe("floodgate-rules");
    const jwksPath = envValue(container, "ADMIN_JWKS_FILE")!;
    const jwks = mountFor(pod, container, jwksPath);
    const items = asArray(at(jwks?.volume, "secret", "items"), "items");
    expect(items.map((i) => `${jwks!.mountPath}/${String(at(i, "path"))}`)).toContain(jwksPath);
  });

  it("Floodgate: probes the kubelet can make (its grpc probe has no TLS, no probe a client certificate), and its ports", () => {
    const [, container] = floodgates[0]!;
    const probe = (name: string) => at(container, name) as Json;
    if (envValue(container, "TLS_CLIENT_CA_FILE") !== undefined) {
      // mTLS: only a connection can be checked.
      for (const name of ["startupProbe", "livenessProbe", "readinessProbe"]) {
        expect(isObject(probe(name).tcpSocket), name).toBe(true);
      }
    } else {
      expect(envValue(container, "TLS_CERT_FILE")).toBeUndefined();
      const { grpcPort } = loadSettings(environment(resources, container));
      expect(at(container, "startupProbe", "grpc", "port")).toBe(grpcPort);
      expect(at(container, "livenessProbe", "httpGet", "path")).toBe("/healthz");
      expect(at(container, "readinessProbe", "httpGet", "path")).toBe("/readyz");
    }
    expect(at(container, "resources", "requests", "cpu")).toBe("1");
  });

  it("a NetworkPolicy opens only the ports meant for the network, and they are the containers' own", () => {
    const policies = ofKind(resources, "networking.k8s.io/v1/NetworkPolicy");
    expect(policies.length).toBeGreaterThan(0);
    for (const policy of policies) {
      const selector = at(policy, "spec", "podSelector", "matchLabels") as Record<string, string>;
      const [pod] = all.filter((p) => selects(selector, p.labels));
      expect(pod, `NetworkPolicy ${String(at(policy, "metadata", "name"))}`).toBeDefined();
      const open = asArray(at(policy, "spec", "ingress"), "ingress").flatMap((rule) =>
        asArray(at(rule, "ports"), "ports").map((p) => at(p, "port")),
      );
      const declared = pod!.containers.flatMap((c) =>
        asArray(c.ports ?? [], "ports").map((p) => at(p, "containerPort")),
      );
      for (const port of open) expect(declared, `port ${String(port)}`).toContain(port);
    }
  });

  it("Floodgate: FALLBACK_DIVISOR is the usual replica count", () => {
    const [pod, container] = floodgates[0]!;
    const hpa = ofKind(resources, "autoscaling/v2/HorizontalPodAutoscaler")[0];
    const replicas = hpa === undefined ? pod.replicas : at(hpa, "spec", "minReplicas");
    expect(Number(envValue(container, "FALLBACK_DIVISOR"))).toBe(replicas);
  });

  it("the grace period covers the preStop pause and Floodgate's own drain", () => {
    for (const pod of all) {
      const pauses = pod.containers.map((c) =>
        Number(
          (c.lifecycle as Json | undefined)?.preStop ? at(c, "lifecycle", "preStop", "sleep", "seconds") : 0,
        ),
      );
      const drain = floodgates.some(([p]) => p === pod)
        ? Number(envValue(floodgates[0]![1], "SHUTDOWN_GRACE_MS")) / 1000
        : 0;
      expect(Number(pod.spec.terminationGracePeriodSeconds), pod.owner).toBeGreaterThan(
        Math.max(...pauses) + drain,
      );
    }
  });

  it("Envoy runs its config from the envoy-sidecar ConfigMap, probed on its health-check path", () => {
    const [[pod, envoy]] = containerNamed(all, "envoy") as [[Pod, Container]];
    const mount = mountFor(pod, envoy, "/etc/envoy/envoy.yaml");
    const configMap = find(resources, "v1/ConfigMap", String(at(mount?.volume, "configMap", "name")));
    const config: unknown = parse(String(at(configMap, "data", "envoy.yaml")));
    expect(envoy.args).toEqual(["-c", "/etc/envoy/envoy.yaml"]);
    const listener = at(
      config,
      "static_resources",
      "listeners",
      0,
      "address",
      "socket_address",
      "port_value",
    );
    expect(at(envoy, "ports", 0, "containerPort")).toBe(listener);
    const filters = asArray(
      at(
        config,
        "static_resources",
        "listeners",
        0,
        "filter_chains",
        0,
        "filters",
        0,
        "typed_config",
        "http_filters",
      ),
      "http_filters",
    );
    const health = filters.find((f) => isObject(f) && f.name === "envoy.filters.http.health_check");
    expect(at(envoy, "readinessProbe", "httpGet", "path")).toBe(
      at(health, "typed_config", "headers", 0, "string_match", "exact"),
    );
    // The app listens where Envoy's `app` cluster sends traffic.
    const app = pod.containers.find((c) => c.name === "app")!;
    const clusters = asArray(at(config, "static_resources", "clusters"), "clusters");
    const appAddress = socketAddress(clusters.find((c) => isObject(c) && c.name === "app"));
    expect(app.args).toContain(`-listen=${String(appAddress.address)}:${String(appAddress.port_value)}`);
  });
});

describe.each([
  ["sidecar (base)", BASE],
  ["central", CENTRAL],
] as const)("%s layout: database roles and the audit chain key", (_layout, resources) => {
  const job = find(resources, "batch/v1/Job", "floodgate-migrate");
  const spec = at(job, "spec", "template", "spec") as Json;
  const migrate = asArray(spec.containers, "containers")[0] as Container;
  const [[, floodgate]] = containerNamed(pods(resources), "floodgate") as [[Pod, Container]];

  it("migrates as the owner in a Job, granting the role Floodgate serves as", () => {
    const owner = new URL(environment(resources, migrate).DATABASE_URL!);
    const app = new URL(environment(resources, floodgate).DATABASE_URL!);
    expect([owner.host, owner.pathname]).toEqual([app.host, app.pathname]);
    expect(owner.username).not.toBe(app.username);
    expect(migrate.args).toEqual(["migrate", "--grant-to", app.username]);
    expect(migrate.image).toBe(floodgate.image);
    expect(at(spec, "restartPolicy")).toBe("OnFailure");
    expect(at(spec, "securityContext", "runAsNonRoot")).toBe(true);
    expect(at(migrate, "securityContext")).toEqual(at(floodgate, "securityContext"));
    expect(at(migrate, "resources", "limits", "memory")).toBeDefined();
  });

  it("only the Job sees the owner's credentials", () => {
    const ownerSecret = String(at(envOf(migrate).get("DATABASE_URL"), "valueFrom", "secretKeyRef", "name"));
    const uses = pods(resources).flatMap((pod) =>
      pod.containers.flatMap((c) => [...envOf(c).values()].map((e) => JSON.stringify(e.valueFrom ?? ""))),
    );
    expect(uses.filter((u) => u.includes(ownerSecret))).toEqual([]);
    for (const pod of pods(resources)) {
      const volumes = asArray(pod.spec.volumes ?? [], "volumes").filter(isObject);
      expect(volumes.filter((v) => isObject(v.secret) && v.secret.secretName === ownerSecret)).toEqual([]);
    }
  });

  it("mounts the audit chain key where AUDIT_CHAIN_KEY_FILE points, and its placeholder is refused", () => {
    const [pod] = containerNamed(pods(resources), "floodgate")[0]!;
    const path = envValue(floodgate, "AUDIT_CHAIN_KEY_FILE")!;
    const mount = mountFor(pod, floodgate, path);
    const item = asArray(at(mount?.volume, "secret", "items"), "items").find(
      (i) => `${mount!.mountPath}/${String(at(i, "path"))}` === path,
    );
    const placeholder = secretValue(resources, {
      name: at(mount?.volume, "secret", "secretName"),
      key: at(item, "key"),
    });
    // A key published in this repository would seal nothing: Floodgate must refuse to start with it.
    expect(() => parseChainKeys(placeholder)).toThrow(/AUDIT_CHAIN_KEY_FILE: .*openssl rand -base64 48/);
  });
});

describe("sidecar layout specifics", () => {
  it("Floodgate and Envoy are native sidecars, Floodgate first", () => {
    const [app] = pods(BASE);
    const init = asArray(app!.spec.initContainers, "initContainers");
    expect(init.map((c) => [at(c, "name"), at(c, "restartPolicy")])).toEqual([
      ["floodgate", "Always"],
      ["envoy", "Always"],
    ]);
  });

  it("the placeholder JWKS in the Secret is one Floodgate accepts (so the pod starts)", async () => {
    const jwks = (at(find(BASE, "v1/Secret", "floodgate-secrets"), "stringData") as Record<string, string>)[
      "jwks.json"
    ]!;
    const dir = await mkdtemp(join(tmpdir(), "fg-jwks-"));
    try {
      await writeFile(join(dir, "jwks.json"), jwks);
      const settings = { jwksFile: join(dir, "jwks.json"), jwksUrl: undefined, publicKeyFile: undefined };
      const admin = { ...settings, issuer: "i", audience: "a", maxLifetimeS: 3600, clockToleranceS: 30 };
      await expect(createAuthenticator(admin)).resolves.toBeDefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("central layout specifics", () => {
  it("runs the same Floodgate container as the sidecar, apart from the sidecar and preStop fields and TLS", () => {
    // TLS (and with it the probes and the admin listener) is what crossing the network adds.
    const networkOnly = (name: unknown) =>
      typeof name === "string" && (name.startsWith("TLS_") || name === "ADMIN_GRPC_PORT" || name === "tls");
    const without = (list: unknown, key: string) =>
      asArray(list ?? [], key).filter(
        (item) => isObject(item) && !networkOnly(item.name) && item.containerPort !== 8082,
      );
    const strip = (c: Container) => {
      const {
        restartPolicy: _r,
        lifecycle: _l,
        startupProbe: _s,
        livenessProbe: _v,
        readinessProbe: _d,
        ...rest
      } = c;
      return {
        ...rest,
        env: without(c.env, "env"),
        ports: without(c.ports, "ports"),
        volumeMounts: without(c.volumeMounts, "volumeMounts"),
      };
    };
    const [[, sidecar]] = containerNamed(pods(BASE), "floodgate") as [[Pod, Container]];
    const [[owner, central]] = containerNamed(pods(CENTRAL), "floodgate") as [[Pod, Container]];
    expect(owner.owner).toBe("floodgate");
    expect(strip(central)).toEqual(strip(sidecar));
  });

  it("the app pods keep Envoy but not Floodgate, and Envoy finds Floodgate through a headless Service", () => {
    const app = pods(CENTRAL).find((p) => p.owner === "app")!;
    expect(app.containers.map((c) => c.name).sort()).toEqual(["app", "envoy"]);
    const service = find(CENTRAL, "v1/Service", "floodgate");
    expect(at(service, "spec", "clusterIP")).toBe("None");
    expect(asArray(at(service, "spec", "ports"), "ports").map((p) => at(p, "port"))).toContain(8081);
    const envoy = loadOne("deploy/k8s/central/envoy.yaml");
    const clusters = asArray(at(envoy, "static_resources", "clusters"), "clusters");
    const ratelimit = clusters.find((c) => isObject(c) && c.name === "ratelimit");
    expect(at(socketAddress(ratelimit), "address")).toBe("floodgate");
  });

  describe("mTLS: the certificates, the clients and the names fit together", () => {
    const [[floodgatePod, floodgate]] = containerNamed(pods(CENTRAL), "floodgate") as [[Pod, Container]];
    const certificate = (secretName: string): Json => {
      const found = ofKind(CENTRAL, "cert-manager.io/v1/Certificate").find(
        (c) => at(c, "spec", "secretName") === secretName,
      );
      if (found === undefined) throw new Error(`no Certificate writes the Secret ${secretName}`);
      return found;
    };
    /** The Certificate behind the Secret mounted where `path` is, in that container. */
    const certificateAt = (pod: Pod, container: Container, path: string) => {
      const mount = mountFor(pod, container, path);
      expect(mount, `${container.name} mounts ${path}`).toBeDefined();
      expect(mount!.volume.secret, `${path} comes from a Secret`).toBeDefined();
      return certificate(String(at(mount!.volume, "secret", "secretName")));
    };
    const server = certificateAt(floodgatePod, floodgate, envValue(floodgate, "TLS_CERT_FILE")!);
    const issuer = at(server, "spec", "issuerRef", "name");
    const names = asArray(at(server, "spec", "dnsNames"), "dnsNames");
    const envoyConfig = loadOne("deploy/k8s/central/envoy.yaml");
    const ratelimit = asArray(at(envoyConfig, "static_resources", "clusters"), "clusters").find(
      (c) => isObject(c) && c.name === "ratelimit",
    );
    const upstreamTls = at(ratelimit, "transport_socket", "typed_config") as Json;

    it("Floodgate serves a server certificate and trusts its own issuer's CA for clients", () => {
      expect(at(server, "spec", "usages")).toEqual(["server auth"]);
      for (const variable of ["TLS_KEY_FILE", "TLS_CLIENT_CA_FILE"]) {
        expect(certificateAt(floodgatePod, floodgate, envValue(floodgate, variable)!)).toBe(server);
      }
      expect(envValue(floodgate, "TLS_CLIENT_CA_FILE")).toMatch(/\/ca\.crt$/);
    });

    it("every client connects by a name the certificate holds, with a client certificate from the same issuer", () => {
      // Envoy: the Service it resolves, the SNI and the name it checks.
      expect(names).toContain(at(socketAddress(ratelimit), "address"));
      expect(names).toContain(upstreamTls.sni);
      const san = at(
        upstreamTls,
        "common_tls_context",
        "combined_validation_context",
        "default_validation_context",
        "match_typed_subject_alt_names",
        0,
      );
      expect(names).toContain(at(san, "matcher", "exact"));
      const app = pods(CENTRAL).find((p) => p.owner === "app")!;
      const [[, envoy]] = containerNamed([app], "envoy") as [[Pod, Container]];
      // The SDS file the cluster names sits in Envoy's ConfigMap; the files it names are mounted
      // from a client Certificate's Secret.
      const sdsPaths = JSON.stringify(upstreamTls).match(/"path":"[^"]+sds[^"]*"/g) ?? [];
      expect(sdsPaths.length).toBeGreaterThan(0);
      const envoyConfigMap = find(CENTRAL, "v1/ConfigMap", "envoy-sidecar");
      for (const entry of new Set(sdsPaths)) {
        const path = String(JSON.parse(`{${entry}}`).path);
        const mount = mountFor(app, envoy, path);
        expect(at(mount?.volume, "configMap", "name")).toBe("envoy-sidecar");
        const sds = parse(String(at(envoyConfigMap, "data", path.slice(mount!.mountPath.length + 1))));
        const files = JSON.stringify(sds).match(/"filename":"[^"]+"/g) ?? [];
        expect(files.length).toBe(3);
        for (const file of files) {
          const client = certificateAt(app, envoy, String(JSON.parse(`{${file}}`).filename));
          expect(at(client, "spec", "usages")).toEqual(["client auth"]);
          expect(at(client, "spec", "issuerRef", "name")).toBe(issuer);
        }
      }
      // Prometheus: https, the HTTP Service's name, its own client certificate.
      const endpoint = at(
        find(CENTRAL, "monitoring.coreos.com/v1/ServiceMonitor", "floodgate"),
        "spec",
        "endpoints",
        0,
      );
      expect(at(endpoint, "scheme")).toBe("https");
      expect(names).toContain(at(endpoint, "tlsConfig", "serverName"));
      const scrape = certificate(String(at(endpoint, "tlsConfig", "cert", "secret", "name")));
      expect(at(scrape, "spec", "issuerRef", "name")).toBe(issuer);
      // Operators: the Admin Service's name.
      expect(names).toContain("floodgate-admin");
    });

    it("the Admin listener has a Service of its own, and only a chosen namespace may reach it", () => {
      const admin = Number(envValue(floodgate, "ADMIN_GRPC_PORT"));
      const service = find(CENTRAL, "v1/Service", "floodgate-admin");
      const target = at(service, "spec", "ports", 0, "targetPort");
      const port = asArray(floodgate.ports, "ports").find((p) => at(p, "name") === target);
      expect(at(port, "containerPort")).toBe(admin);
      const rules = asArray(
        at(find(CENTRAL, "networking.k8s.io/v1/NetworkPolicy", "floodgate"), "spec", "ingress"),
        "ingress",
      );
      const toAdmin = rules.filter((r) =>
        asArray(at(r, "ports"), "ports").some((p) => at(p, "port") === admin),
      );
      expect(toAdmin).toHaveLength(1);
      expect(at(toAdmin[0], "from", 0, "namespaceSelector", "matchLabels")).toEqual(
        expect.objectContaining({ "kubernetes.io/metadata.name": expect.any(String) }),
      );
    });
  });
});
