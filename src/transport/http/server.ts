import type { FastifyInstance } from "fastify";
import Fastify from "fastify";
import { invalidArgument } from "../../domain/errors.js";
import type { Logger } from "../../observability/logger.js";
import type { Metrics } from "../../observability/metrics.js";
import type { CheckLimitInput, CheckLimitOutcome } from "../../limiting/check-limit.js";
import { registerCheckLimitRoute } from "./check-limit-route.js";
import { classifyHttpError } from "./status-map.js";
import { FAILURE_LOG_LEVEL } from "../failure-log-level.js";
import swagger from "@fastify/swagger";
import type { HealthReport } from "./ops-routes.js";
import { registerOpsRoutes } from "./ops-routes.js";
import { PACKAGE_VERSION } from "../../config/paths.js";
import type { HttpListenerOptions } from "./listener.js";
import { listenerFactory } from "./listener.js";

export type { HealthReport } from "./ops-routes.js";

export interface HttpServerDeps {
  readonly checkLimit: (input: CheckLimitInput) => Promise<CheckLimitOutcome>;
  readonly health: () => HealthReport;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, "registry" | "exposition" | "requestDuration">;
  /** Client limits and TLS; without it, Fastify's own plain HTTP server (tests of the routes). */
  readonly listener?: HttpListenerOptions;
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

/** The OpenAPI document is generated from the route schemas, so it cannot drift from the routes. */
const OPENAPI = {
  openapi: {
    openapi: "3.1.0",
    info: {
      title: "Floodgate HTTP API",
      version: PACKAGE_VERSION,
      description:
        "Rate limit checks for applications, and the operations endpoints. Envoy uses the gRPC API.",
    },
    tags: [
      { name: "rate-limit", description: "Checks" },
      { name: "operations", description: "Health, readiness, metrics" },
    ],
  },
};

export async function createHttpServer(deps: HttpServerDeps): Promise<FastifyInstance> {
  // No type coercion and no silent removal of unknown fields: a typo must be a 400, not ignored.
  const app = Fastify({
    logger: false,
    bodyLimit: 16 * 1024,
    return503OnClosing: true,
    // Envoy and most proxies send x-request-id; reuse it so logs line up across hops.
    requestIdHeader: "x-request-id",
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    ...(deps.listener === undefined ? {} : { serverFactory: listenerFactory(deps.listener) }),
  });
  // JSON is the only media type: Fastify's default text/plain parser would turn a text body into
  // a string that fails the schema (400), where any body not JSON must get 415 (README).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, parseJson);
  app.setErrorHandler((err, request, reply) => {
    const { status, error } = classifyHttpError(err);
    // The cause: the code and the generic message the client got, and the server-only detail.
    const cause = { code: error.code, message: error.message, detail: error.detail };
    deps.logger[FAILURE_LOG_LEVEL[error.code]](
      { route: request.url, status, requestId: request.id, ...cause },
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
  await app.register(swagger, OPENAPI);
  registerOpsRoutes(app, deps);
  registerCheckLimitRoute(app, deps.checkLimit);
  await app.ready();
  return app;
}
