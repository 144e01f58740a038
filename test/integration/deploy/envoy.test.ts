import { describe, expect, it } from "vitest";
import { checkEnvoyConfig, loadEnvoyProtos } from "./support/envoy-schema.js";
import type { Json } from "./support/repo.js";
import {
  asArray,
  at,
  filesUnder,
  isObject,
  isYamlFile,
  loadOne,
  loadYaml,
  socketAddress,
} from "./support/repo.js";

/**
 * The Envoy bootstraps (the sidecar one, and its docker-compose and central variants), checked
 * without an Envoy binary: against Envoy's protos, then for the wiring Floodgate needs.
 */
const BOOTSTRAPS = [...filesUnder("envoy"), ...filesUnder("deploy")]
  .filter(isYamlFile)
  .filter((file) => loadYaml(file).some((doc) => isObject(doc.value) && "static_resources" in doc.value));

/** File-based SDS: DiscoveryResponses of TLS Secrets that a bootstrap reads from a path. */
const SDS_FILES = [...filesUnder("envoy"), ...filesUnder("deploy")]
  .filter(isYamlFile)
  .filter((file) =>
    loadYaml(file).some(
      (doc) =>
        isObject(doc.value) &&
        Array.isArray(doc.value.resources) &&
        doc.value.resources.some((r) => isObject(r) && "@type" in r),
    ),
  );

const SIDECAR = "envoy/envoy.yaml";
const RLS_HEALTH_SERVICES = ["", "envoy.service.ratelimit.v3.RateLimitService"];
const RATELIMIT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit";
const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** Where each variant must find Floodgate's gRPC port. */
const RLS_ADDRESS: Record<string, string> = {
  "envoy/envoy.yaml": "127.0.0.1",
  "envoy/envoy-compose.yaml": "floodgate",
  "deploy/k8s/central/envoy.yaml": "floodgate",
};

function hcm(config: unknown): Json {
  const filter = asArray(
    at(config, "static_resources", "listeners", 0, "filter_chains", 0, "filters"),
    "filters",
  )[0];
  return at(filter, "typed_config") as Json;
}

function httpFilters(config: unknown): Json[] {
  return asArray(hcm(config).http_filters, "http_filters") as Json[];
}

function rateLimitFilter(config: unknown): Json {
  const filter = httpFilters(config).find((f) => f.name === "envoy.filters.http.ratelimit");
  if (filter === undefined) throw new Error("no envoy.filters.http.ratelimit filter");
  return at(filter, "typed_config") as Json;
}

function cluster(config: unknown, name: string): Json {
  const found = asArray(at(config, "static_resources", "clusters"), "clusters").find(
    (c) => isObject(c) && c.name === name,
  );
  if (!isObject(found)) throw new Error(`no cluster ${name}`);
  return found;
}

function seconds(duration: unknown): number {
  const match = typeof duration === "string" ? /^(\d+(?:\.\d+)?)s$/.exec(duration) : null;
  if (match === null) throw new Error(`not a duration: ${JSON.stringify(duration)}`);
  return Number(match[1]);
}

/** The descriptor keys each route `rate_limits` entry produces, in order. */
function descriptorKeys(config: unknown): string[][] {
  const hosts = asArray(at(hcm(config), "route_config", "virtual_hosts"), "virtual_hosts");
  return hosts.flatMap((host) =>
    asArray(at(host, "routes"), "routes").flatMap((route) =>
      asArray(at(route, "route", "rate_limits"), "rate_limits").map((limit) =>
        asArray(at(limit, "actions"), "actions").map((action) => {
          if (!isObject(action) || !isObject(action.request_headers)) {
            throw new Error(`unexpected action ${JSON.stringify(action)}: teach this test about it`);
          }
          return String(action.request_headers.descriptor_key);
        }),
      ),
    ),
  );
}

/** The rules file in deploy/rules whose `domain` is `domain`. */
function rulesFor(domain: string): Json {
  const file = filesUnder("deploy/rules")
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => loadOne(f))
    .find((rules) => isObject(rules) && rules.domain === domain);
  if (!isObject(file)) throw new Error(`no rules file in deploy/rules for domain ${domain}`);
  return file;
}

/** Whether some chain of nested descriptor nodes has exactly these keys. */
function rulesHavePath(nodes: unknown, keys: readonly string[]): boolean {
  if (keys.length === 0) return true;
  return asArray(nodes ?? [], "descriptors").some(
    (node) => isObject(node) && node.key === keys[0] && rulesHavePath(node.descriptors, keys.slice(1)),
  );
}

describe("Envoy bootstraps", () => {
  const protos = loadEnvoyProtos();

  it("are found: the sidecar one and its variants", () => {
    expect(BOOTSTRAPS.sort()).toEqual(Object.keys(RLS_ADDRESS).sort());
  });

  it.each(BOOTSTRAPS)("%s is valid against Envoy's protos (fields, types, enums, @types)", (file) => {
    expect(checkEnvoyConfig(protos, loadOne(file), "envoy.config.bootstrap.v3.Bootstrap")).toEqual([]);
  });

  it.each(SDS_FILES)("%s (file-based SDS) is a valid DiscoveryResponse of Secrets", (file) => {
    const response = loadOne(file);
    expect(checkEnvoyConfig(protos, response, "envoy.service.discovery.v3.DiscoveryResponse")).toEqual([]);
    for (const resource of asArray(at(response, "resources"), "resources")) {
      expect(at(resource, "@type")).toBe(
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
      );
    }
  });

  it("every SDS secret a bootstrap names is in the file it points at", () => {
    for (const file of BOOTSTRAPS) {
      const text = JSON.stringify(loadOne(file));
      for (const match of text.matchAll(
        /\{"name":"([^"]+)","sds_config":\{"path_config_source":\{"path":"([^"]+)"/g,
      )) {
        const [, name, path] = match;
        const sds = SDS_FILES.find((f) => path!.endsWith(`/${f.split("/").pop()!}`));
        expect(sds, `${file}: ${path!} is not one of ${SDS_FILES.join(", ")}`).toBeDefined();
        const names = asArray(at(loadOne(sds!), "resources"), "resources").map((r) => at(r, "name"));
        expect(names, `${file}: secret ${name!}`).toContain(name);
      }
    }
  });

  it("the proto check catches typos, deprecated fields and bad values", () => {
    const broken = structuredClone(loadOne(SIDECAR)) as Json;
    const rls = rateLimitFilter(broken);
    rls.timout = "0.05s";
    rls.enable_x_ratelimit_headers = "DRAFT_03";
    const ratelimit = cluster(broken, "ratelimit");
    ratelimit.http2_protocol_options = {};
    ratelimit.connect_timeout = 1;
    delete hcm(broken).stat_prefix;
    expect(
      checkEnvoyConfig(protos, broken, "envoy.config.bootstrap.v3.Bootstrap").map((p) => p.split(": ")[1]),
    ).toEqual([
      "not a value of .envoy.extensions.filters.http.ratelimit.v3.RateLimit.XRateLimitHeadersRFCVersion",
      "unknown field of envoy.extensions.filters.http.ratelimit.v3.RateLimit",
      "required",
      'expected a duration such as "0.25s", got 1',
      "deprecated field of envoy.config.cluster.v3.Cluster",
    ]);
  });

  it.each(BOOTSTRAPS)("%s: the rate limit filter comes before the router, and the router is last", (file) => {
    const filters = httpFilters(loadOne(file));
    const names = filters.map((f) => f.name);
    expect(names.at(-1)).toBe("envoy.filters.http.router");
    expect(names.indexOf("envoy.filters.http.ratelimit")).toBeGreaterThanOrEqual(0);
    expect(names.indexOf("envoy.filters.http.ratelimit")).toBeLessThan(
      names.indexOf("envoy.filters.http.router"),
    );
    expect(at(filters.at(-1), "typed_config", "@type")).toBe(ROUTER_TYPE);
    expect(rateLimitFilter(loadOne(file))["@type"]).toBe(RATELIMIT_TYPE);
  });

  it.each(BOOTSTRAPS)(
    "%s: explicit timeout, fail open, draft-03 headers, RLS v3 on cluster ratelimit",
    (file) => {
      const rls = rateLimitFilter(loadOne(file));
      // Envoy's default (20 ms) is too tight for a Node.js server; past 250 ms it slows every request.
      expect(seconds(rls.timeout)).toBeGreaterThan(0.02);
      expect(seconds(rls.timeout)).toBeLessThanOrEqual(0.25);
      expect(rls).toHaveProperty("failure_mode_deny", false);
      expect(rls.enable_x_ratelimit_headers).toBe("DRAFT_VERSION_03");
      expect(at(rls, "rate_limit_service", "transport_api_version")).toBe("V3");
      expect(at(rls, "rate_limit_service", "grpc_service", "envoy_grpc", "cluster_name")).toBe("ratelimit");
    },
  );

  it.each(BOOTSTRAPS)(
    "%s: cluster ratelimit speaks HTTP/2 to Floodgate's gRPC port and health-checks it",
    (file) => {
      const config = loadOne(file);
      const ratelimit = cluster(config, "ratelimit");
      const options = at(ratelimit, "typed_extension_protocol_options", HTTP_OPTIONS);
      expect(at(options, "@type")).toBe(`type.googleapis.com/${HTTP_OPTIONS}`);
      expect(isObject(at(options, "explicit_http_config", "http2_protocol_options"))).toBe(true);
      const checks = asArray(ratelimit.health_checks, "health_checks");
      expect(checks).toHaveLength(1);
      const grpc = at(checks[0], "grpc_health_check") as Json;
      expect(RLS_HEALTH_SERVICES).toContain(grpc.service_name ?? "");
      const address = socketAddress(ratelimit);
      expect(at(address, "port_value")).toBe(8081);
      expect(at(address, "address")).toBe(RLS_ADDRESS[file]);
      if (RLS_ADDRESS[file] !== "127.0.0.1") expect(ratelimit.type).toBe("STRICT_DNS");
    },
  );

  it("every variant has the sidecar's listener (filters, routes, descriptors) unchanged", () => {
    const listeners = at(loadOne(SIDECAR), "static_resources", "listeners");
    for (const file of BOOTSTRAPS)
      expect(at(loadOne(file), "static_resources", "listeners"), file).toEqual(listeners);
  });

  it("sends per-user, per-path and per-user-per-path descriptors", () => {
    expect(descriptorKeys(loadOne(SIDECAR))).toEqual([["user"], ["path"], ["user", "path"]]);
  });

  it.each(BOOTSTRAPS)("%s: its domain and descriptors match a rules file in deploy/rules", (file) => {
    const config = loadOne(file);
    const rules = rulesFor(String(rateLimitFilter(config).domain));
    for (const keys of descriptorKeys(config))
      expect(rulesHavePath(rules.descriptors, keys), keys.join(",")).toBe(true);
  });

  it("keeps the admin interface off the network where it can be reached from outside the pod", () => {
    for (const file of [SIDECAR, "deploy/k8s/central/envoy.yaml"]) {
      expect(at(loadOne(file), "admin", "address", "socket_address", "address"), file).toBe("127.0.0.1");
    }
  });

  it("the latency alert fires below every Envoy timeout, but near it", () => {
    const alerts = asArray(
      at(loadOne("deploy/prometheus/floodgate-alerts.yaml"), "groups"),
      "groups",
    ).flatMap((g) => asArray(at(g, "rules"), "rules"));
    const alert = alerts.find((r) => isObject(r) && r.alert === "FloodgateLatencyNearEnvoyTimeout");
    const threshold = Number(/>\s*([0-9.]+)\s*$/.exec(String(at(alert, "expr")).trim())?.[1]);
    const timeouts = BOOTSTRAPS.map((file) => seconds(rateLimitFilter(loadOne(file)).timeout));
    expect(threshold).toBeLessThan(Math.min(...timeouts));
    expect(threshold).toBeGreaterThanOrEqual(0.5 * Math.max(...timeouts));
  });
});
