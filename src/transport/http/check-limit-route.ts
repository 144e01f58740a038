import type { FastifyInstance } from "fastify";
import { INPUT_LIMITS } from "../../limiting/limits.js";
import { ERROR_SCHEMA } from "./ops-routes.js";
import type { CheckLimitInput, CheckLimitOutcome } from "../../limiting/check-limit.js";

/**
 * POST /api/v1/check-limit: the JSON face of CheckLimit. It translates only; the decision is the
 * same service function the gRPC method calls. A denial is answered 429 with Retry-After.
 */
const BODY_SCHEMA = {
  type: "object",
  additionalProperties: false,
  properties: {
    user_id: { type: "string", maxLength: INPUT_LIMITS.maxValueLength },
    endpoint: { type: "string", maxLength: INPUT_LIMITS.maxValueLength },
    weight: { type: "integer", minimum: 0, maximum: INPUT_LIMITS.maxCost },
  },
} as const;

const RESULT_SCHEMA = {
  type: "object",
  required: ["allowed", "remaining", "reset_at", "retry_after"],
  properties: {
    allowed: { type: "boolean" },
    remaining: { type: "integer", description: "Tokens left in the most restrictive bucket." },
    reset_at: { type: "string", format: "date-time", description: "When that bucket is full again." },
    retry_after: {
      type: "number",
      description: "Seconds until a denied request could pass; 0 when allowed.",
    },
  },
} as const;

interface CheckLimitBody {
  user_id?: string;
  endpoint?: string;
  weight?: number;
}

export function registerCheckLimitRoute(
  app: FastifyInstance,
  checkLimit: (input: CheckLimitInput) => Promise<CheckLimitOutcome>,
): void {
  app.post<{ Body: CheckLimitBody }>(
    "/api/v1/check-limit",
    {
      schema: {
        summary: "Check and take the per-user, per-endpoint and per-pair limits, all or nothing",
        description:
          "200 when allowed; 429 with Retry-After when denied. The body is the same in both cases.",
        tags: ["rate-limit"],
        body: BODY_SCHEMA,
        response: {
          200: RESULT_SCHEMA,
          429: RESULT_SCHEMA,
          400: ERROR_SCHEMA,
          413: ERROR_SCHEMA,
          415: ERROR_SCHEMA,
          500: ERROR_SCHEMA,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const outcome = await checkLimit({
        userId: body.user_id ?? "",
        endpoint: body.endpoint ?? "",
        weight: body.weight ?? 0,
      });
      if (!outcome.allowed) {
        void reply
          .code(429)
          .header("Retry-After", String(Math.max(1, Math.ceil(outcome.retryAfterMs / 1000))));
      }
      return {
        allowed: outcome.allowed,
        remaining: outcome.remaining,
        reset_at: outcome.resetAt.toISOString(),
        retry_after: outcome.retryAfterMs / 1000,
      };
    },
  );
}
