import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestServer } from "../support/floodgate.js";
import { call, rlsRequest, startTestServer } from "../support/floodgate.js";
import type { Exposition } from "./support/promql.js";
import { kindOf } from "./support/kubernetes.js";
import { render } from "./support/kustomize.js";
import { metricNames, parseExposition, unknownReferences } from "./support/promql.js";
import type { Json } from "./support/repo.js";
import { asArray, at, isObject, loadOne, readText } from "./support/repo.js";

/**
 * Every PromQL expression we ship (alert rules, the PrometheusRule, the Grafana dashboard) may only
 * use metrics that a real Floodgate exports: the list comes from scraping a running server.
 */
const RULES = `domain: edge
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 2 }
`;

const ALERTS_FILE = "deploy/prometheus/floodgate-alerts.yaml";
/** Both Kubernetes layouts, rendered: their PrometheusRule and ServiceMonitor are what a cluster gets. */
const LAYOUTS = ["deploy/k8s/base", "deploy/k8s/central"];
const DASHBOARD = "deploy/grafana/floodgate-dashboard.json";

interface Alert {
  readonly group: string;
  readonly alert: string;
  readonly expr: string;
  readonly rule: Json;
}

function alertsOf(groups: unknown): Alert[] {
  return asArray(groups, "groups").flatMap((group) =>
    asArray(at(group, "rules"), "rules").map((rule) => {
      if (!isObject(rule)) throw new Error("a rule is not a mapping");
      return { group: String(at(group, "name")), alert: String(rule.alert), expr: String(rule.expr), rule };
    }),
  );
}

const ALERTS = alertsOf(at(loadOne(ALERTS_FILE), "groups"));

async function scrape(server: TestServer): Promise<string> {
  const res = await fetch(`${server.httpUrl}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** Traffic that gives the labelled families samples: decisions both ways, both RPC paths, a bad reload. */
async function exercise(server: TestServer): Promise<void> {
  for (let i = 0; i < 3; i += 1) {
    await call(server.rls, "ShouldRateLimit", rlsRequest("edge", [[["user", "alice"]]]));
  }
  await fetch(`${server.httpUrl}/api/v1/check-limit`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user_id: "alice", endpoint: "/x" }),
  });
  await server.writeRules(
    "broken.yaml",
    "domain: edge\ndescriptors: [{ key: user, rate_limit: { unit: fortnight } }]\n",
  );
  const deadline = Date.now() + 10_000;
  while (!(await scrape(server)).includes('floodgate_config_reloads_total{result="error"}')) {
    if (Date.now() > deadline) throw new Error("the bad rules file was never reported as a failed reload");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("metrics referenced by alerts and dashboards exist on a running server", () => {
  let server: TestServer;
  let exposition: Exposition;

  beforeAll(async () => {
    server = await startTestServer({ rules: { "edge.yaml": RULES }, memory: true });
    await exercise(server);
    exposition = parseExposition(await scrape(server));
  });
  afterAll(async () => server.stop());

  it("scrapes Floodgate's own families", () => {
    const ours = [...exposition.families.keys()].filter((name) => name.startsWith("floodgate_"));
    expect(ours.length).toBeGreaterThanOrEqual(20);
    expect(exposition.labels.get("floodgate_decisions_total")?.get("outcome")).toEqual(
      new Set(["allowed", "denied"]),
    );
  });

  it("recognises the default process and Node.js metrics by their standard names only", () => {
    for (const name of ["process_cpu_seconds_total", "nodejs_eventloop_lag_p99_seconds"]) {
      expect(unknownReferences(`rate(${name}[5m])`, exposition)).toEqual([]);
      expect(unknownReferences(`rate(floodgate_${name}[5m])`, exposition)).toEqual([
        `unknown metric floodgate_${name}`,
      ]);
    }
  });

  it.each(ALERTS.map((a) => [a.alert, a.expr] as const))(
    "alert %s uses only exported metrics",
    (_name, expr) => {
      expect(metricNames(expr).length).toBeGreaterThan(0);
      expect(unknownReferences(expr, exposition)).toEqual([]);
    },
  );

  it.each(ALERTS.map((a) => [a.alert, a.rule] as const))(
    "alert %s's annotations name only exported metrics",
    (_name, rule) => {
      const prose = Object.values(at(rule, "annotations") as Json).join("\n");
      const named = [...prose.matchAll(/\b(?:floodgate|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0]);
      const exported = (name: string) => exposition.families.has(name) || exposition.series.has(name);
      expect(named.filter((name) => !exported(name))).toEqual([]);
    },
  );

  it.each(LAYOUTS)("%s: the ServiceMonitor scrapes the path these metrics were read from", (dir) => {
    const monitors = render(dir).resources.filter(
      (r) => kindOf(r.value) === "monitoring.coreos.com/v1/ServiceMonitor",
    );
    expect(monitors.length).toBe(1);
    for (const endpoint of asArray(at(monitors[0]!.value, "spec", "endpoints"), "endpoints")) {
      expect(at(endpoint, "path")).toBe(new URL(`${server.httpUrl}/metrics`).pathname);
    }
  });

  it("every Grafana query uses only exported metrics", () => {
    const dashboard = JSON.parse(readText(DASHBOARD)) as Json;
    const queries: [string, string][] = [];
    for (const panel of asArray(dashboard.panels, "panels")) {
      if (!isObject(panel) || panel.type === "row") continue;
      for (const target of asArray(panel.targets, `panel ${String(panel.title)} targets`)) {
        queries.push([String(panel.title), String(at(target, "expr"))]);
      }
    }
    for (const variable of asArray(at(dashboard, "templating", "list"), "templating")) {
      const query = isObject(variable) && variable.type === "query" ? at(variable, "definition") : undefined;
      const metric = typeof query === "string" ? /label_values\(\s*([^,)]+)/.exec(query)?.[1] : undefined;
      if (metric !== undefined) queries.push([`variable ${String(at(variable, "name"))}`, metric]);
    }
    expect(queries.length).toBeGreaterThan(10);
    const problems = queries.flatMap(([title, expr]) =>
      unknownReferences(expr, exposition).map((p) => `${title}: ${p}`),
    );
    expect(problems).toEqual([]);
  });
});

describe("the Grafana dashboard", () => {
  it("shows the standard process and Node.js metrics of Floodgate's targets only", () => {
    // Other Node.js services export the same process_* and nodejs_* names to the same Prometheus,
    // and the instance variable's "All" matches every target.
    const dashboard = JSON.parse(readText(DASHBOARD)) as Json;
    const exprs = asArray(dashboard.panels, "panels").flatMap((panel) =>
      isObject(panel) && panel.type !== "row"
        ? asArray(panel.targets, "targets").map((target) => String(at(target, "expr")))
        : [],
    );
    const standard = exprs.filter((expr) =>
      metricNames(expr).some((name) => /^(process|nodejs)_/.test(name)),
    );
    expect(standard.length).toBeGreaterThan(0);
    for (const expr of standard) {
      expect(expr).toMatch(/\band on \(job, instance\) floodgate_rules_loaded\b/);
    }
  });
});

describe("alert rules", () => {
  it.each(LAYOUTS)("are the same in the Prometheus file and in %s's rendered PrometheusRule", (dir) => {
    const rules = render(dir).resources.filter(
      (r) => kindOf(r.value) === "monitoring.coreos.com/v1/PrometheusRule",
    );
    expect(rules.length).toBe(1);
    const wrapped = at(rules[0]!.value, "spec", "groups");
    const plain = at(loadOne(ALERTS_FILE), "groups");
    // Exact equality, so the two cannot drift; on failure, name the first alert that differs.
    const differing = alertsOf(plain).find((a, i) => !isDeepStrictEqual(a, alertsOf(wrapped)[i]));
    expect(differing?.alert).toBeUndefined();
    expect(wrapped).toEqual(plain);
  });

  it("have unique names, a severity, a summary and a description", () => {
    expect(new Set(ALERTS.map((a) => a.alert)).size).toBe(ALERTS.length);
    for (const { alert, rule } of ALERTS) {
      expect(alert, alert).toMatch(/^Floodgate[A-Z][A-Za-z]+$/);
      expect(["critical", "warning"], alert).toContain(at(rule, "labels", "severity"));
      expect(String(at(rule, "annotations", "summary")).length, alert).toBeGreaterThan(10);
      expect(String(at(rule, "annotations", "description")).length, alert).toBeGreaterThan(10);
      if (rule.for !== undefined) expect(rule.for, alert).toMatch(/^\d+[smh]$/);
    }
  });

  it("cover Redis fallback, rejected reloads, a high deny ratio and latency near Envoy's timeout", () => {
    const exprOf = (name: string) => ALERTS.find((a) => a.alert === name)?.expr ?? "";
    expect(exprOf("FloodgateRedisFallbackActive")).toContain("floodgate_store_fallback_active");
    expect(exprOf("FloodgateConfigReloadFailing")).toMatch(
      /floodgate_config_reloads_total\{result="error"\}/,
    );
    expect(exprOf("FloodgateHighDenyRatio")).toMatch(/floodgate_decisions_total\{outcome="denied"\}/);
    expect(exprOf("FloodgateLatencyNearEnvoyTimeout")).toMatch(
      /histogram_quantile\(0\.99,[\s\S]*floodgate_request_duration_seconds_bucket/,
    );
  });
});

describe("the PromQL reader these checks rely on", () => {
  const text = [
    "# HELP x_total help",
    "# TYPE x_total counter",
    'x_total{outcome="allowed"} 3',
    "# TYPE lat_seconds histogram",
    'lat_seconds_bucket{rpc="A",le="0.1"} 1',
    'lat_seconds_sum{rpc="A"} 0.01',
    'lat_seconds_count{rpc="A"} 1',
    "# TYPE quiet_total counter",
  ].join("\n");
  const exposition = parseExposition(text);

  it("finds metric names among functions, keywords, numbers, durations and grouping labels", () => {
    const expr = `histogram_quantile(0.99, sum by (le, rpc) (rate(lat_seconds_bucket{rpc="A"}[5m] offset 1h)))
      > 0.04 and on (instance) sum without (outcome) (increase(x_total[1e3s])) / ignoring(le) quiet_total`;
    expect(metricNames(expr)).toEqual(["lat_seconds_bucket", "x_total", "quiet_total"]);
  });

  it("flags an unknown metric, an unknown label and a value never seen", () => {
    expect(
      unknownReferences('rate(lat_seconds_buckets[5m]) + x_total{outcome="denied"}', exposition),
    ).toEqual([
      "unknown metric lat_seconds_buckets",
      'x_total{outcome="denied"}: the server only showed allowed',
    ]);
    expect(unknownReferences('x_total{result="error"} + quiet_total{anything="x"}', exposition)).toEqual([
      "x_total has no label result",
    ]);
    expect(unknownReferences("lat_seconds", exposition)).toEqual(["unknown metric lat_seconds"]);
  });
});
