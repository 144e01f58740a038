import { Validator } from "@seriousme/openapi-schema-validator";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/metrics.js";
import { createHttpServer, registeredRoutes } from "../../src/transport/http/server.js";

describe("OpenAPI document", () => {
  let app: FastifyInstance;
  let doc: { openapi: string; paths: Record<string, Record<string, unknown>> };

  beforeAll(async () => {
    app = await createHttpServer({
      checkLimit: () => Promise.reject(new Error("not used")),
      health: () => ({ ready: true, components: {} }),
      logger: pino({ level: "silent" }),
      metrics: createMetrics(),
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const port = (app.server.address() as { port: number }).port;
    doc = (await (await fetch(`http://127.0.0.1:${port}/openapi.json`)).json()) as typeof doc;
  });
  afterAll(async () => app.close());

  it("is a valid OpenAPI 3.1 document", async () => {
    expect(doc.openapi).toBe("3.1.0");
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("documents every registered route, and nothing else", () => {
    const documented = Object.entries(doc.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const registered = registeredRoutes(app)
      .map((r) => `${r.method} ${r.url}`)
      .sort();
    expect(registered.length).toBeGreaterThanOrEqual(5);
    expect(documented).toEqual(registered);
  });

  it("describes the check-limit body, its 429 and its errors", () => {
    const post = doc.paths["/api/v1/check-limit"]!["post"] as {
      requestBody: { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
      responses: Record<string, unknown>;
    };
    expect(Object.keys(post.requestBody.content["application/json"]!.schema.properties).sort()).toEqual([
      "endpoint",
      "user_id",
      "weight",
    ]);
    expect(Object.keys(post.responses).sort()).toEqual(["200", "400", "413", "415", "429", "500"]);
  });
});
