import { basename, join, normalize } from "node:path";
import { describe, expect, it } from "vitest";
import { loadSettings } from "../../../src/config/settings.js";
import type { Json } from "./support/repo.js";
import { asArray, at, exists, isObject, loadOne, readText, socketAddress } from "./support/repo.js";

/**
 * deploy/docker-compose.yml and what it mounts (Envoy, Prometheus and Grafana configs), checked
 * without Docker: every file it names exists, every host name it uses is one of its services, and
 * Floodgate's settings load.
 */
const COMPOSE_FILE = "deploy/docker-compose.yml";
const COMPOSE = loadOne(COMPOSE_FILE) as Json;
const SERVICES = at(COMPOSE, "services") as Record<string, Json>;

function service(name: string): Json {
  const found = SERVICES[name];
  if (found === undefined) throw new Error(`no service ${name}`);
  return found;
}

/** Bind mounts of a service as [repository path, container path]. */
function binds(name: string): [string, string][] {
  return asArray(service(name).volumes ?? [], "volumes")
    .map((v) => String(v).split(":"))
    .filter(([source]) => source!.startsWith("."))
    .map(([source, target]) => [normalize(join("deploy", source!)), target!]);
}

/** The repository file mounted at `target` in `name`, or under a mounted directory. */
function mounted(name: string, target: string): string {
  for (const [source, mountPoint] of binds(name)) {
    if (target === mountPoint) return source;
    if (target.startsWith(`${mountPoint}/`)) return join(source, target.slice(mountPoint.length + 1));
  }
  throw new Error(`${name}: nothing is mounted at ${target}`);
}

function environment(name: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service(name).environment as Json).map(([k, v]) => [k, String(v)]),
  );
}

function durationSeconds(value: unknown): number {
  const match = /^(\d+)(s|m)$/.exec(String(value));
  if (match === null) throw new Error(`not a duration: ${String(value)}`);
  return Number(match[1]) * (match[2] === "m" ? 60 : 1);
}

describe("docker-compose stack", () => {
  it("has Redis, Postgres, Floodgate, Envoy, the demo app and Prometheus", () => {
    for (const name of ["redis", "postgres", "floodgate", "envoy", "app", "prometheus"]) {
      expect(Object.keys(SERVICES)).toContain(name);
    }
  });

  it("every bind-mounted file, build context and Dockerfile exists", () => {
    for (const name of Object.keys(SERVICES)) {
      for (const [source] of binds(name)) expect(exists(source), `${name}: ${source}`).toBe(true);
      const build = SERVICES[name]!.build;
      if (isObject(build)) {
        const context = normalize(join("deploy", String(build.context)));
        const dockerfile = typeof build.dockerfile === "string" ? build.dockerfile : "Dockerfile";
        expect(exists(join(context, dockerfile)), name).toBe(true);
      }
    }
  });

  it("depends only on services it defines, and named volumes are declared", () => {
    const volumes = Object.keys((COMPOSE.volumes as Json | undefined) ?? {});
    for (const [name, spec] of Object.entries(SERVICES)) {
      const deps = spec.depends_on;
      const names = Array.isArray(deps) ? deps.map(String) : Object.keys((deps as Json | undefined) ?? {});
      for (const dep of names) expect(Object.keys(SERVICES), `${name} → ${dep}`).toContain(dep);
      for (const volume of asArray(spec.volumes ?? [], "volumes").map((v) => String(v).split(":")[0]!)) {
        if (!volume.startsWith(".")) expect(volumes, `${name}: volume ${volume}`).toContain(volume);
      }
    }
  });

  it("tags the image it builds with package.json's version, as `make docker` and the Kubernetes layouts do", () => {
    const version = String((JSON.parse(readText("package.json")) as Json).version);
    for (const name of ["floodgate", "admin-keys"]) expect(service(name).image).toBe(`floodgate:${version}`);
    // The component deploy/k8s/image tags Floodgate in both layouts (kubernetes.test.ts renders them).
    const images = asArray(at(loadOne("deploy/k8s/image/kustomization.yaml"), "images"), "images");
    expect(images.find((i) => isObject(i) && i.name === "floodgate")).toMatchObject({ newTag: version });
  });

  it("Floodgate's settings load, and point at the stack's Redis, Postgres, rules and keys", () => {
    const env = environment("floodgate");
    expect(() => loadSettings(env)).not.toThrow();
    expect(new URL(env.REDIS_URL!).hostname).toBe("redis");
    expect(mounted("floodgate", env.RULES_PATH!)).toBe("deploy/rules");
    // The JWKS and the audit chain key are made by the admin-keys one-shot in the volume both share.
    const keys = asArray(service("admin-keys").volumes, "volumes").map(String);
    expect(asArray(service("floodgate").volumes, "volumes").map(String)).toContain(keys[0]);
    for (const file of [env.ADMIN_JWKS_FILE!, env.AUDIT_CHAIN_KEY_FILE!])
      expect(file.startsWith(`${keys[0]!.split(":")[1]!}/`), file).toBe(true);
    expect(String(asArray(service("admin-keys").command, "command")[0])).toContain(
      `[ -f ${basename(env.AUDIT_CHAIN_KEY_FILE!)} ] || node`,
    );
    expect(durationSeconds(service("floodgate").stop_grace_period)).toBeGreaterThan(10);
  });

  it("migrates as the owner role and serves as the application role, both made by the init SQL", () => {
    const postgres = environment("postgres");
    const init = mounted("postgres", "/docker-entrypoint-initdb.d/10-floodgate-roles.sql");
    const passwords = new Map(
      [...readText(init).matchAll(/^create role (\w+) login password '([^']+)';$/gm)].map((m) => [
        m[1],
        m[2],
      ]),
    );
    const urlOf = (name: string) => new URL(environment(name).DATABASE_URL!);
    const [owner, app] = [urlOf("migrate"), urlOf("floodgate")];
    for (const db of [owner, app]) {
      expect([db.hostname, db.pathname]).toEqual(["postgres", `/${postgres.POSTGRES_DB}`]);
      expect(passwords.get(db.username), db.username).toBe(db.password);
    }
    expect(owner.username).not.toBe(app.username);
    expect(readText(init)).toContain(`create schema floodgate authorization ${owner.username};`);
    expect(asArray(service("migrate").command, "command")).toEqual(["migrate", "--grant-to", app.username]);
    expect(at(service("floodgate"), "depends_on", "migrate", "condition")).toBe(
      "service_completed_successfully",
    );
    expect(service("migrate").image).toBe(service("floodgate").image);
  });

  it("Envoy runs the compose variant, whose clusters are the stack's services", () => {
    const config = mounted("envoy", "/etc/envoy/envoy.yaml");
    expect(config).toBe("envoy/envoy-compose.yaml");
    const clusters = asArray(at(loadOne(config), "static_resources", "clusters"), "clusters");
    for (const cluster of clusters) {
      expect(Object.keys(SERVICES)).toContain(at(socketAddress(cluster), "address"));
    }
    const app = clusters.find((c) => isObject(c) && c.name === "app");
    const port = at(socketAddress(app), "port_value");
    expect(asArray(service("app").command, "command")).toContain(`-listen=:${String(port)}`);
  });

  it("Prometheus scrapes the stack's services and loads the mounted alert rules", () => {
    const config = loadOne(mounted("prometheus", "/etc/prometheus/prometheus.yml"));
    const ruleFiles = asArray(at(config, "rule_files"), "rule_files").map(String);
    expect(ruleFiles.map((file) => mounted("prometheus", file))).toEqual([
      "deploy/prometheus/floodgate-alerts.yaml",
    ]);
    const targets = asArray(at(config, "scrape_configs"), "scrape_configs").flatMap((job) =>
      asArray(at(job, "static_configs"), "static_configs").flatMap((s) =>
        asArray(at(s, "targets"), "targets"),
      ),
    );
    expect(targets).toContain("floodgate:8080");
    for (const target of targets) expect(Object.keys(SERVICES)).toContain(String(target).split(":")[0]);
  });

  it("Grafana gets the Prometheus data source and the dashboard from its provisioning", () => {
    const provisioning = mounted("grafana", "/etc/grafana/provisioning");
    const datasource = loadOne(join(provisioning, "datasources/prometheus.yaml"));
    expect(new URL(String(at(datasource, "datasources", 0, "url"))).host).toBe("prometheus:9090");
    const provider = loadOne(join(provisioning, "dashboards/floodgate.yaml"));
    const folder = String(at(provider, "providers", 0, "options", "path"));
    expect(mounted("grafana", `${folder}/floodgate-dashboard.json`)).toBe(
      "deploy/grafana/floodgate-dashboard.json",
    );
  });
});

describe("Grafana dashboard", () => {
  const dashboard = JSON.parse(readText("deploy/grafana/floodgate-dashboard.json")) as Json;
  const panels = asArray(dashboard.panels, "panels").filter(isObject);
  const queries = (panel: Json) => asArray(panel.targets ?? [], "targets").map((t) => String(at(t, "expr")));

  it("has unique panel ids, a position for every panel, and one data source variable", () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of panels) expect(isObject(panel.gridPos), String(panel.title)).toBe(true);
    const variables = asArray(at(dashboard, "templating", "list"), "templating").map((v) => at(v, "name"));
    expect(variables).toContain("datasource");
    for (const panel of panels.filter((p) => p.type !== "row")) {
      expect(at(panel, "datasource", "uid"), String(panel.title)).toBe("${datasource}");
    }
  });

  it("shows decisions by outcome and by source, latency percentiles, fallback, and Redis latency and errors", () => {
    const all = panels.flatMap(queries).join("\n");
    expect(all).toMatch(/sum by \(outcome\) \(rate\(floodgate_decisions_total/);
    expect(all).toMatch(/sum by \(source\) \(rate\(floodgate_decisions_total/);
    for (const q of ["0.5", "0.99", "0.999"]) {
      expect(all).toContain(
        `histogram_quantile(${q}, sum by (rpc, le) (rate(floodgate_request_duration_seconds_bucket`,
      );
    }
    expect(all).toContain("floodgate_store_fallback_active");
    expect(all).toContain("floodgate_redis_duration_seconds_bucket");
    expect(all).toContain("floodgate_redis_errors_total");
  });
});
