import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { DecisionObserver } from "../service/rate-limiter.js";

/**
 * Every metric is defined here, on one dedicated registry (DESIGN §7). Label values stay bounded:
 * domains come from the loaded rules (others become "unknown"), never from user input.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly decisions: Counter<"domain" | "outcome" | "source">;
  readonly requestDuration: Histogram<"rpc">;
  readonly configReloads: Counter<"result">;
  readonly rulesLoaded: Gauge;
  readonly observer: DecisionObserver;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "floodgate_" });
  const decisions = new Counter({
    name: "floodgate_decisions_total",
    help: "Rate limit decisions by domain, outcome (allowed, denied, shadow_denied) and source.",
    labelNames: ["domain", "outcome", "source"] as const,
    registers: [registry],
  });
  const requestDuration = new Histogram({
    name: "floodgate_request_duration_seconds",
    help: "Time to answer an RPC or HTTP check, by rpc.",
    labelNames: ["rpc"] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
    registers: [registry],
  });
  const configReloads = new Counter({
    name: "floodgate_config_reloads_total",
    help: "Rules reloads by result (success, error).",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const rulesLoaded = new Gauge({
    name: "floodgate_rules_loaded",
    help: "Number of rate_limit rules in force.",
    registers: [registry],
  });
  const observer: DecisionObserver = {
    onDecision: ({ domain, outcome, source }) => decisions.inc({ domain, outcome, source: source ?? "none" }),
  };
  return { registry, decisions, requestDuration, configReloads, rulesLoaded, observer };
}
