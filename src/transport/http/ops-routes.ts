import type { FastifyInstance } from "fastify";
import type { Metrics } from "../../observability/metrics.js";

export interface HealthReport {
  readonly ready: boolean;
  readonly components: Readonly<Record<string, string>>;
}

const COMPONENTS = {
  type: "object",
  description:
    "Each component's state: ok or degraded (the reason is in the server's log), or yes/no for draining.",
  additionalProperties: { type: "string" },
} as const;

const ERROR = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: { type: "string" }, message: { type: "string" } },
    },
  },
} as const;

/** The error body every route shares; generic messages only (README, "Input limits and errors"). */
export const ERROR_SCHEMA = ERROR;

const READY = {
  type: "object",
  required: ["status", "components"],
  properties: { status: { type: "string", enum: ["ready", "not_ready"] }, components: COMPONENTS },
} as const;

/** Liveness, readiness, metrics and the OpenAPI document, each with a schema the document is built from. */
export function registerOpsRoutes(
  app: FastifyInstance,
  deps: { health: () => HealthReport; metrics: Pick<Metrics, "registry" | "exposition"> },
): void {
  app.get(
    "/healthz",
    {
      schema: {
        summary: "Liveness: the process is up and its event loop answers",
        tags: ["operations"],
        response: { 200: { type: "object", properties: { status: { type: "string", const: "ok" } } } },
      },
    },
    () => Promise.resolve({ status: "ok" }),
  );
  app.get(
    "/readyz",
    {
      schema: {
        summary:
          "Readiness: rules loaded and not draining. A degraded Redis keeps the service ready (it still serves).",
        tags: ["operations"],
        response: { 200: READY, 503: READY },
      },
    },
    async (_req, reply) => {
      const report = deps.health();
      void reply.code(report.ready ? 200 : 503);
      return { status: report.ready ? "ready" : "not_ready", components: report.components };
    },
  );
  app.get(
    "/metrics",
    {
      schema: {
        summary: "Prometheus metrics (text exposition format)",
        tags: ["operations"],
        produces: ["text/plain"],
        response: { 200: { type: "string", description: "Prometheus text format 0.0.4" } },
      },
    },
    async (_req, reply) => {
      void reply.header("content-type", deps.metrics.registry.contentType);
      return deps.metrics.exposition();
    },
  );
  app.get(
    "/openapi.json",
    {
      schema: {
        summary: "This OpenAPI 3.1 document",
        tags: ["operations"],
        response: { 200: { type: "object", additionalProperties: true } },
      },
    },
    () => Promise.resolve(app.swagger()),
  );
}
