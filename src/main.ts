import type { FastifyInstance } from "fastify";
import { RulesHolder } from "./config/rules-holder.js";
import { loadRules } from "./config/rules-loader.js";
import { watchRules } from "./config/rules-watcher.js";
import type { Settings } from "./config/settings.js";
import { createStore } from "./lifecycle/store-factory.js";
import type { AdminHandle } from "./lifecycle/admin-factory.js";
import { startAdmin } from "./lifecycle/admin-factory.js";
import { isClusterWorker } from "./lifecycle/workers.js";
import type { RuleSet } from "./domain/rules.js";
import type { Logger } from "./observability/logger.js";
import { createLogger } from "./observability/logger.js";
import { createMetrics } from "./observability/metrics.js";
import type { Metrics } from "./observability/metrics.js";
import { createCheckLimit } from "./service/check-limit.js";
import { createRateLimiter } from "./service/rate-limiter.js";
import type { GrpcServer } from "./transport/grpc/server.js";
import { bindGrpc, createAdminGrpcServer, createGrpcServer, shutdownGrpc } from "./transport/grpc/server.js";
import type { HealthReport } from "./transport/http/server.js";
import type { StoreHandle } from "./lifecycle/store-factory.js";
import type { RateLimiter } from "./service/rate-limiter.js";
import type { CheckLimitInput, CheckLimitOutcome } from "./service/check-limit.js";
import { createHttpServer } from "./transport/http/server.js";
import type { WatchedTls } from "./config/tls-watcher.js";
import { loadListenerTls, watchListenerTls } from "./lifecycle/listener-tls.js";

/** The composition root: settings in, running servers out. Tests start it on port 0. */
export interface Floodgate {
  readonly grpcPort: number;
  /** The Admin listener's port (ADMIN_GRPC_PORT); undefined when Admin is on grpcPort. */
  readonly adminGrpcPort: number | undefined;
  readonly httpPort: number;
  readonly rules: RulesHolder;
  readonly metrics: Metrics;
  /** Ordered shutdown: unready, drain listeners within the grace period, then close the store. */
  close(): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

interface WatchDeps {
  readonly rules: RulesHolder;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly admin: AdminHandle | undefined;
}

/** Rules loads are limit changes too: audited as `system`, kept and retried until written. */
function auditRules(deps: WatchDeps, change: { previous: RuleSet | undefined; next: RuleSet }): void {
  deps.admin?.rulesAudit.record(change);
}

/** Hot reload: a good change swaps the rules; a bad one is counted and logged, the old rules stay. */
function watch(settings: Settings, deps: WatchDeps) {
  const { rules, metrics, logger } = deps;
  return watchRules({
    path: settings.rulesPath,
    initialDigest: rules.current().digest,
    onReload: (next) => {
      auditRules(deps, { previous: rules.swap(next), next });
      metrics.configReloads.inc({ result: "success" });
      metrics.rulesLoaded.set(next.ruleCount);
      logger.info(
        { domains: [...next.domains.keys()], rules: next.ruleCount, digest: next.digest },
        "rules reloaded",
      );
    },
    onError: (err) => {
      metrics.configReloads.inc({ result: "error" });
      logger.error(
        { err: err instanceof Error ? err.message : String(err) },
        "rules reload failed; previous rules stay in force",
      );
    },
  });
}

interface Listeners {
  readonly grpc: GrpcServer;
  readonly grpcPort: number;
  readonly adminGrpc: { readonly grpc: GrpcServer; readonly port: number } | undefined;
  readonly http: FastifyInstance;
  readonly httpPort: number;
}

interface ListenDeps {
  readonly limiter: RateLimiter;
  readonly checkLimit: (input: CheckLimitInput) => Promise<CheckLimitOutcome>;
  readonly health: () => HealthReport;
  readonly admin: AdminHandle | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** TLS on every listener when set. */
  readonly tls: WatchedTls | undefined;
}

/** The admin API's transport dependencies, when admin is on. */
function adminTransport(admin: AdminHandle | undefined, metrics: Metrics) {
  if (admin === undefined) return {};
  const count = (method: string, result: string) => metrics.adminRequests.inc({ method, result });
  return { admin: { admin: admin.admin, authenticator: admin.authenticator, count } };
}

/** ADMIN_GRPC_PORT: the Admin service on a listener of its own. */
async function listenAdmin(settings: Settings, deps: ListenDeps): Promise<Listeners["adminGrpc"]> {
  if (settings.adminGrpcPort === undefined) return undefined;
  const grpc = createAdminGrpcServer({ logger: deps.logger, ...adminTransport(deps.admin, deps.metrics) });
  const port = await bindGrpc(grpc.server, hostPort(settings.host, settings.adminGrpcPort), deps.tls);
  return { grpc, port };
}

async function listen(settings: Settings, deps: ListenDeps): Promise<Listeners> {
  const { limiter, checkLimit, logger, metrics, tls } = deps;
  const grpc = createGrpcServer({
    limiter,
    checkLimit,
    logger,
    metrics,
    adminElsewhere: settings.adminGrpcPort !== undefined,
    ...adminTransport(deps.admin, metrics),
  });
  const grpcPort = await bindGrpc(grpc.server, hostPort(settings.host, settings.grpcPort), tls);
  const adminGrpc = await listenAdmin(settings, deps);
  const onRefused = () => metrics.httpConnectionsRefused.inc();
  const listener = { limits: settings.http, onRefused, ...(tls === undefined ? {} : { tls }) };
  const http = await createHttpServer({ checkLimit, health: deps.health, logger, metrics, listener });
  await http.listen({ host: settings.host, port: settings.httpPort });
  const httpPort = (http.server.address() as { port: number }).port;
  return { grpc, grpcPort, adminGrpc, http, httpPort };
}

/** Unready everywhere, then drain every listener within the grace period. */
async function closeListeners(settings: Settings, listeners: Listeners): Promise<void> {
  const grpcServers = [
    listeners.grpc,
    ...(listeners.adminGrpc === undefined ? [] : [listeners.adminGrpc.grpc]),
  ];
  for (const grpc of grpcServers) grpc.health.setServing(false);
  await Promise.all([
    ...grpcServers.map((grpc) => shutdownGrpc(grpc.server, settings.shutdownGraceMs)),
    listeners.http.close(),
  ]);
}

function startupLine(
  settings: Settings,
  parts: { listeners: Listeners; store: StoreHandle; rules: RulesHolder },
) {
  const { listeners, store, rules } = parts;
  return {
    grpc: hostPort(settings.host, listeners.grpcPort),
    ...(listeners.adminGrpc === undefined
      ? {}
      : { adminGrpc: hostPort(settings.host, listeners.adminGrpc.port) }),
    http: hostPort(settings.host, listeners.httpPort),
    tls: settings.tls === undefined ? "off" : settings.tls.clientCaFile === undefined ? "tls" : "mtls",
    store: store.description,
    rulesPath: settings.rulesPath,
    domains: [...rules.current().domains.keys()],
    rules: rules.current().ruleCount,
  };
}

export async function startFloodgate(settings: Settings, options: StartOptions = {}): Promise<Floodgate> {
  const logger = options.logger ?? createLogger(settings.logLevel);
  const metrics = createMetrics({ clusterWorker: isClusterWorker(settings.workers) });
  // First, so that a bad TLS file stops the start before anything connects.
  const tlsMaterial = await loadListenerTls(settings);
  const rules = new RulesHolder(await loadRules(settings.rulesPath));
  metrics.rulesLoaded.set(rules.current().ruleCount);
  const store = await createStore(settings, { logger, metrics });
  const admin = await startAdmin(settings, { logger, metrics, rules, store: store.store });
  const limiter = createRateLimiter({
    rules,
    store: store.store,
    keyPrefix: settings.redisKeyPrefix,
    shadowMode: settings.shadowMode,
    responseHeaders: settings.responseHeaders,
    descriptorLimitOverrides: settings.descriptorLimitOverrides,
    observer: metrics.observer,
    ...(admin === undefined ? {} : { overrides: admin.overrides }),
  });
  const checkLimit = createCheckLimit({ limiter, domain: settings.checkLimitDomain, now: Date.now });
  let draining = false;
  const health = (): HealthReport => ({
    ready: !draining,
    components: {
      config: "ok",
      ...store.components(),
      ...(admin === undefined ? {} : { postgres: admin.status() }),
      draining: draining ? "yes" : "no",
    },
  });
  const tls = watchListenerTls(settings, tlsMaterial, { logger, metrics });
  const listeners = await listen(settings, {
    limiter,
    checkLimit,
    health,
    admin,
    logger,
    metrics,
    tls,
  }).catch(async (err: unknown) => {
    await tls?.close();
    throw err;
  });
  const watchDeps = { rules, metrics, logger, admin };
  auditRules(watchDeps, { previous: undefined, next: rules.current() });
  const watcher = watch(settings, watchDeps);
  logger.info(startupLine(settings, { listeners, store, rules }), "floodgate started");
  const close = async (): Promise<void> => {
    draining = true;
    await closeListeners(settings, listeners);
    await tls?.close();
    await watcher.close();
    await admin?.close();
    await store.store.close();
    logger.info("floodgate stopped");
  };
  return {
    grpcPort: listeners.grpcPort,
    adminGrpcPort: listeners.adminGrpc?.port,
    httpPort: listeners.httpPort,
    rules,
    metrics,
    close,
  };
}
