import type { FastifyInstance } from "fastify";
import { RulesHolder } from "../config/rules-holder.js";
import { loadRules } from "../config/rules-loader.js";
import type { Settings } from "../config/settings.js";
import { createStore } from "./store-factory.js";
import type { AdminHandle } from "./admin-factory.js";
import { startAdmin } from "./admin-factory.js";
import { isClusterWorker } from "./workers.js";
import { logRulesWarnings, startRulesReload } from "./rules-reload.js";
import type { Logger } from "../observability/logger.js";
import { createLogger } from "../observability/logger.js";
import { createMetrics } from "../observability/metrics.js";
import type { Metrics } from "../observability/metrics.js";
import { createCheckLimit } from "../limiting/check-limit.js";
import { createRateLimiter } from "../limiting/rate-limiter.js";
import type { GrpcServer } from "../transport/grpc/server.js";
import { bindGrpc, createAdminGrpcServer, createGrpcServer, shutdownGrpc } from "../transport/grpc/server.js";
import type { HealthReport } from "../transport/http/server.js";
import type { StoreHandle } from "./store-factory.js";
import type { RateLimiter } from "../limiting/rate-limiter.js";
import type { CheckLimitInput, CheckLimitOutcome } from "../limiting/check-limit.js";
import { createHttpServer } from "../transport/http/server.js";
import type { WatchedTls } from "../config/tls-watcher.js";
import { loadListenerTls, watchListenerTls } from "./listener-tls.js";
import { CloseStack } from "./close-stack.js";

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

interface Listeners {
  readonly grpcPort: number;
  readonly adminGrpcPort: number | undefined;
  readonly httpPort: number;
}

/**
 * The listeners bound so far. They drain together (unready first, then each within the grace
 * period): one closer on the stack for all of them, registered before the first bind.
 */
class BoundListeners {
  private readonly grpc: GrpcServer[] = [];
  private http: FastifyInstance | undefined;

  constructor(private readonly graceMs: number) {}

  addGrpc(server: GrpcServer): void {
    this.grpc.push(server);
  }

  addHttp(server: FastifyInstance): void {
    this.http = server;
  }

  async close(): Promise<void> {
    for (const grpc of this.grpc) grpc.health.setServing(false);
    await Promise.all([
      ...this.grpc.map((grpc) => shutdownGrpc(grpc.server, this.graceMs)),
      this.http?.close(),
    ]);
  }
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
  const count = (method: string, result: string, by = 1) => metrics.adminRequests.inc({ method, result }, by);
  return { admin: { admin: admin.admin, authenticator: admin.authenticator, count } };
}

/** ADMIN_GRPC_PORT: the Admin service on a listener of its own. */
async function listenAdmin(
  settings: Settings,
  deps: ListenDeps,
  bound: BoundListeners,
): Promise<number | undefined> {
  if (settings.adminGrpcPort === undefined) return undefined;
  const grpc = createAdminGrpcServer({ logger: deps.logger, ...adminTransport(deps.admin, deps.metrics) });
  bound.addGrpc(grpc);
  return bindGrpc(grpc.server, hostPort(settings.host, settings.adminGrpcPort), deps.tls);
}

async function listen(settings: Settings, deps: ListenDeps, bound: BoundListeners): Promise<Listeners> {
  const { limiter, checkLimit, logger, metrics, tls } = deps;
  const grpc = createGrpcServer({
    limiter,
    checkLimit,
    logger,
    metrics,
    adminElsewhere: settings.adminGrpcPort !== undefined,
    ...adminTransport(deps.admin, metrics),
  });
  bound.addGrpc(grpc);
  const grpcPort = await bindGrpc(grpc.server, hostPort(settings.host, settings.grpcPort), tls);
  const adminGrpcPort = await listenAdmin(settings, deps, bound);
  const onRefused = () => metrics.httpConnectionsRefused.inc();
  const listener = { limits: settings.http, onRefused, ...(tls === undefined ? {} : { tls }) };
  const http = await createHttpServer({ checkLimit, health: deps.health, logger, metrics, listener });
  bound.addHttp(http);
  await http.listen({ host: settings.host, port: settings.httpPort });
  const httpPort = (http.server.address() as { port: number }).port;
  return { grpcPort, adminGrpcPort, httpPort };
}

function startupLine(
  settings: Settings,
  parts: { listeners: Listeners; store: StoreHandle; rules: RulesHolder },
) {
  const { listeners, store, rules } = parts;
  return {
    grpc: hostPort(settings.host, listeners.grpcPort),
    ...(listeners.adminGrpcPort === undefined
      ? {}
      : { adminGrpc: hostPort(settings.host, listeners.adminGrpcPort) }),
    http: hostPort(settings.host, listeners.httpPort),
    tls: settings.tls === undefined ? "off" : settings.tls.clientCaFile === undefined ? "tls" : "mtls",
    store: store.description,
    rulesPath: settings.rulesPath,
    domains: [...rules.current().domains.keys()],
    rules: rules.current().ruleCount,
  };
}

/**
 * Opens everything in order, registering each part's close on `opened` as soon as it is open,
 * so that the stack closes them in reverse: the rules watcher, the listeners (draining), the TLS
 * watcher, the admin API (its database, LISTEN connection and timers), then the store.
 */
async function start(settings: Settings, parts: { logger: Logger; opened: CloseStack }): Promise<Floodgate> {
  const { logger, opened } = parts;
  const metrics = createMetrics({ clusterWorker: isClusterWorker(settings.workers) });
  // First, so that a bad TLS file stops the start before anything connects.
  const tlsMaterial = await loadListenerTls(settings);
  const loaded = await loadRules(settings.rulesPath, { mergeDomains: settings.mergeDomainConfig });
  logRulesWarnings(logger, loaded.warnings);
  const rules = new RulesHolder(loaded.rules);
  metrics.rulesLoaded.set(rules.current().ruleCount);
  const store = await createStore(settings, { logger, metrics });
  opened.push(() => store.store.close());
  const admin = await startAdmin(settings, { logger, metrics, rules, store: store.store });
  if (admin !== undefined) opened.push(() => admin.close());
  const limiter = createRateLimiter({
    rules,
    store: store.store,
    shadowMode: settings.shadowMode,
    responseHeaders: settings.responseHeaders,
    descriptorLimits: settings.descriptorLimits,
    observer: metrics.observer,
    operatorLimits: admin?.overrides,
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
  if (tls !== undefined) opened.push(() => tls.close());
  const bound = new BoundListeners(settings.shutdownGraceMs);
  opened.push(() => bound.close());
  opened.push(() => void (draining = true));
  const deps = { limiter, checkLimit, health, admin, logger, metrics, tls };
  const listeners = await listen(settings, deps, bound);
  const watcher = startRulesReload(settings, { rules, metrics, logger, rulesAudit: admin?.rulesAudit });
  opened.push(() => watcher.close());
  logger.info(startupLine(settings, { listeners, store, rules }), "floodgate started");
  return {
    ...listeners,
    rules,
    metrics,
    close: () => opened.close().then(() => logger.info("floodgate stopped")),
  };
}

export async function startFloodgate(settings: Settings, options: StartOptions = {}): Promise<Floodgate> {
  const logger = options.logger ?? createLogger(settings.logLevel);
  const opened = new CloseStack((err) =>
    logger.error({ err: err instanceof Error ? err.message : String(err) }, "closing a part failed"),
  );
  try {
    return await start(settings, { logger, opened });
  } catch (err) {
    await opened.close();
    throw err;
  }
}
