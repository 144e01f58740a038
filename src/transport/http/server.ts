import type { FastifyInstance } from "fastify";
import Fastify from "fastify";
import { invalidArgument } from "../../domain/errors.js";
import type { Logger } from "../../observability/logger.js";
import type { Metrics } from "../../observability/metrics.js";
import type { CheckLimitInput, CheckLimitOutcome } from "../../service/check-limit.js";
import { registerCheckLimitRoute } from "./check-limit-route.js";
import { classifyHttpError } from "./status-map.js";

export interface HealthReport {
  readonly ready: boolean;
  readonly components: Readonly<Record<string, string>>;
}

export interface HttpServerDeps {
  readonly checkLimit: (input: CheckLimitInput) => Promise<CheckLimitOutcome>;
  readonly health: () => HealthReport;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, "registry" | "requestDuration">;
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

/** JSON with strict UTF-8: invalid bytes are bad input, not silently replaced characters. */
function parseJson(_req: unknown, body: Buffer, done: (err: Error | null, value?: unknown) => void): void {
  try {
    done(null, body.length === 0 ? {} : JSON.parse(STRICT_UTF8.decode(body)));
  } catch {
    done(invalidArgument("body", "malformed JSON or invalid UTF-8"));
  }
}

function registerOps(app: FastifyInstance, deps: HttpServerDeps): void {
  app.get("/healthz", () => Promise.resolve({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    const report = deps.health();
    void reply.code(report.ready ? 200 : 503);
    return { status: report.ready ? "ready" : "not_ready", components: report.components };
  });
  app.get("/metrics", async (_req, reply) => {
    void reply.header("content-type", deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
}

export function createHttpServer(deps: HttpServerDeps): FastifyInstance {
  // No type coercion and no silent removal of unknown fields: a typo must be a 400, not ignored.
  const app = Fastify({
    logger: false,
    bodyLimit: 16 * 1024,
    return503OnClosing: true,
    // Envoy and most proxies send x-request-id; reuse it so logs line up across hops.
    requestIdHeader: "x-request-id",
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, parseJson);
  app.setErrorHandler((err, request, reply) => {
    const { status, error } = classifyHttpError(err);
    const level = status >= 500 ? "error" : "warn";
    deps.logger[level](
      { route: request.url, status, requestId: request.id, detail: error.detail },
      "request failed",
    );
    void reply.code(status).send({ error: { code: error.code, message: error.message } });
  });
  app.setNotFoundHandler((_req, reply) => {
    void reply.code(404).send({ error: { code: "NOT_FOUND", message: "no such route" } });
  });
  app.addHook("onResponse", async (request, reply) => {
    if (request.routeOptions.url === "/api/v1/check-limit") {
      deps.metrics.requestDuration.observe({ rpc: "http_check_limit" }, reply.elapsedTime / 1000);
    }
  });
  registerOps(app, deps);
  registerCheckLimitRoute(app, deps.checkLimit);
  return app;
}
