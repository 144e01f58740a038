import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { DecisionObserver } from "../limiting/rate-limiter.js";
import { clusterExposition } from "./cluster-metrics.js";

/**
 * Every metric is defined here, on one dedicated registry (README, "Observability"). Label values stay bounded:
 * domains come from the loaded rules (others become "unknown"), never from user input.
 */
export interface Metrics {
  readonly registry: Registry;
  /** The text for /metrics: this registry, or with WORKERS > 1 every worker's together. */
  exposition(): Promise<string>;
  readonly decisions: Counter<"domain" | "outcome" | "source">;
  readonly requestDuration: Histogram<"rpc">;
  readonly configReloads: Counter<"result">;
  readonly rulesLoaded: Gauge;
  readonly redisDuration: Histogram;
  readonly redisErrors: Counter<"kind">;
  readonly fallbackActive: Gauge;
  readonly fallbackDecisions: Counter;
  readonly fallbackTransitions: Counter<"to">;
  readonly localEvictions: Counter;
  readonly adminRequests: Counter<"method" | "result">;
  readonly auditEvents: Counter<"action">;
  readonly auditPending: Gauge;
  readonly auditUnrecorded: Counter<"reason">;
  /** ADMIN_JWKS_URL fetches that failed (the last keys may still serve for a while). */
  readonly jwksFetchFailures: Counter;
  /** Audit appends refused because the database handed back what Floodgate did not write. */
  readonly auditAppendRefused: Counter;
  /** Rotations of the listeners' TLS files by result (success, error), and the certificate's expiry. */
  readonly tlsReloads: Counter<"result">;
  readonly tlsCertificateExpiry: Gauge;
  /** HTTP connections refused because HTTP_MAX_CONNECTIONS were open. */
  readonly httpConnectionsRefused: Counter;
  /** Reports the local store's size on every scrape. */
  trackLocalBuckets(size: () => number): void;
  readonly observer: DecisionObserver;
}

export interface MetricsOptions {
  /** This process is one of several cluster workers (WORKERS > 1): /metrics aggregates them. */
  readonly clusterWorker?: boolean;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  // prom-client's process and Node.js metrics keep their standard names (process_*, nodejs_*), the
  // ones common Node.js dashboards and alerts query; floodgate_ is for Floodgate's own.
  collectDefaultMetrics({ register: registry });
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
    // With WORKERS > 1 the scrape aggregates the workers (cluster-metrics.ts): they all load the
    // same rules, so not a sum.
    aggregator: "max",
  });
  const store = createStoreMetrics(registry);
  const adminRequests = new Counter({
    name: "floodgate_admin_requests_total",
    help: "Admin API calls by method and result (ok, an authentication failure reason, or an error code).",
    labelNames: ["method", "result"] as const,
    registers: [registry],
  });
  const auditEvents = new Counter({
    name: "floodgate_audit_events_total",
    help: "Audit log rows written by this replica, by action.",
    labelNames: ["action"] as const,
    registers: [registry],
  });
  const auditPending = new Gauge({
    name: "floodgate_audit_pending",
    help: "Rules loads in force whose audit row is not written yet (retried until the database takes it).",
    registers: [registry],
  });
  const auditUnrecorded = new Counter({
    name: "floodgate_audit_unrecorded_total",
    help:
      "Rules loads in force with no audit row of their own: merged (too many pending; the net change " +
      "is recorded) or shutdown (still pending when the process stopped).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const jwksFetchFailures = new Counter({
    name: "floodgate_admin_jwks_fetch_failures_total",
    help: "ADMIN_JWKS_URL fetches that failed; the last keys serve for a bounded time (docs/admin-auth.md).",
    registers: [registry],
  });
  const auditAppendRefused = new Counter({
    name: "floodgate_audit_append_refused_total",
    help: "Audit appends refused (the change was not made): the row or the chain before it was not Floodgate's (docs/audit-log.md).",
    registers: [registry],
  });
  const observer = decisionObserver(decisions);
  // Series that alerts watch with increase() must exist before their first event, or the first
  // reload failure or fallback would not show as an increase.
  for (const result of ["success", "error"]) configReloads.inc({ result }, 0);
  for (const to of ["local", "redis"]) store.fallbackTransitions.inc({ to }, 0);
  for (const reason of ["merged", "shutdown"]) auditUnrecorded.inc({ reason }, 0);
  return {
    registry,
    exposition: options.clusterWorker === true ? clusterExposition(registry) : () => registry.metrics(),
    decisions,
    requestDuration,
    configReloads,
    rulesLoaded,
    adminRequests,
    auditEvents,
    auditPending,
    auditUnrecorded,
    jwksFetchFailures,
    auditAppendRefused,
    ...store,
    ...createListenerMetrics(registry),
    observer,
  };
}

/** The listeners' own: TLS rotations, the certificate's expiry, the HTTP connection cap. */
function createListenerMetrics(registry: Registry) {
  const tlsReloads = new Counter({
    name: "floodgate_tls_reloads_total",
    help: "Reloads of TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE by result (success, error).",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  // An alert on increase() must see the series before the first failed rotation.
  for (const result of ["success", "error"]) tlsReloads.inc({ result }, 0);
  const tlsCertificateExpiry = new Gauge({
    name: "floodgate_tls_certificate_expiry_timestamp_seconds",
    help: "When the certificate the listeners serve expires (Unix time); absent without TLS.",
    registers: [registry],
    // Across WORKERS: the earliest, the one an expiry alert must see.
    aggregator: "min",
  });
  const httpConnectionsRefused = new Counter({
    name: "floodgate_http_connections_refused_total",
    help: "HTTP connections closed on arrival because HTTP_MAX_CONNECTIONS were open (per process).",
    registers: [registry],
  });
  return { tlsReloads, tlsCertificateExpiry, httpConnectionsRefused };
}

/**
 * Called on every decision: the labelled child is looked up once per label combination (they are
 * bounded) instead of hashing a label object on each call.
 */
function decisionObserver(decisions: Counter<"domain" | "outcome" | "source">): DecisionObserver {
  const children = new Map<string, Counter.Internal>();
  return {
    onDecision: ({ domain, outcome, source }) => {
      const key = `${domain}\u0000${outcome}\u0000${source ?? "none"}`;
      let child = children.get(key);
      if (child === undefined) {
        child = decisions.labels({ domain, outcome, source: source ?? "none" });
        children.set(key, child);
      }
      child.inc();
    },
  };
}

function createStoreMetrics(registry: Registry) {
  const registers = [registry];
  let localSize: () => number = () => 0;
  const localBuckets = new Gauge({
    name: "floodgate_local_buckets",
    help: "Buckets held by the in-process store (bounded by LOCAL_MAX_BUCKETS).",
    registers,
    collect() {
      this.set(localSize());
    },
  });
  return {
    redisDuration: new Histogram({
      name: "floodgate_redis_duration_seconds",
      help: "Duration of each Redis script call, success or failure.",
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05],
      registers,
    }),
    redisErrors: new Counter({
      name: "floodgate_redis_errors_total",
      help: "Failed Redis calls by kind (timeout, connection, cluster, loading, readonly, busy, oom, bug).",
      labelNames: ["kind"] as const,
      registers,
    }),
    fallbackActive: new Gauge({
      name: "floodgate_store_fallback_active",
      help: "1 while decisions come from the local store because Redis is failing, else 0.",
      registers,
      // Across WORKERS: 1 when any worker is in fallback, as the alert (== 1) expects.
      aggregator: "max",
    }),
    fallbackDecisions: new Counter({
      name: "floodgate_fallback_decisions_total",
      help: "Decisions taken by the local store because a Redis call failed or the breaker was open.",
      registers,
    }),
    fallbackTransitions: new Counter({
      name: "floodgate_store_fallback_transitions_total",
      help: "Transitions into (to=local) and out of (to=redis) fallback.",
      labelNames: ["to"] as const,
      registers,
    }),
    localEvictions: new Counter({
      name: "floodgate_local_evictions_total",
      help: "Buckets the in-process store evicted to stay within LOCAL_MAX_BUCKETS.",
      registers,
    }),
    trackLocalBuckets: (size: () => number) => {
      localSize = size;
      localBuckets.set(size());
    },
  };
}
