import { Validator } from "@seriousme/openapi-schema-validator";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/metrics.js";
import { createHttpServer } from "../../src/transport/http/server.js";

/**
 * "METHOD /path" for every route the server serves (HEAD twins excluded), read from Fastify's
 * route table: `printRoutes({ commonPrefix: false })` prints one full path per line.
 */
function servedRoutes(app: FastifyInstance): string[] {
  return app
    .printRoutes({ commonPrefix: false })
    .split("\n")
    .flatMap((line) => {
      const match = /^[│├└─\s]*(\/\S*) \(([^)]+)\)$/.exec(line);
      if (match === null) return [];
      const methods = match[2]!.split(", ").filter((m) => m !== "HEAD");
      return methods.map((method) => `${method} ${match[1]}`);
    });
}

describe("OpenAPI document", () => {
  let app: FastifyInstance;
  let doc: { openapi: string; paths: Record<string, Record<string, unknown>> };
  let base: string;

  beforeAll(async () => {
    app = await createHttpServer({
      checkLimit: () => Promise.reject(new Error("not used")),
      health: () => ({ ready: true, components: {} }),
      logger: pino({ level: "silent" }),
      metrics: createMetrics(),
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    doc = (await (await fetch(`${base}/openapi.json`)).json()) as typeof doc;
  });
  afterAll(async () => app.close());

  it("is a valid OpenAPI 3.1 document", async () => {
    expect(doc.openapi).toBe("3.1.0");
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  const documented = () =>
    Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
    );

  it("documents every route the server serves, and nothing else", () => {
    const served = servedRoutes(app).sort();
    expect(served.length).toBeGreaterThanOrEqual(5);
    expect(documented().sort()).toEqual(served);
  });

  it("serves every documented route: none of them answers the unknown-route 404", async () => {
    for (const route of documented()) {
      const [method, path] = route.split(" ") as [string, string];
      const res = await fetch(`${base}${path}`, {
        method,
        ...(method === "POST" ? { headers: { "content-type": "application/json" }, body: "{}" } : {}),
      });
      const body = await res.text();
      expect({ route, unknown: body.includes("no such route") }).toEqual({ route, unknown: false });
    }
    const unknown = await fetch(`${base}/api/v1/nope`);
    expect([unknown.status, await unknown.text()]).toEqual([
      404,
      JSON.stringify({ error: { code: "NOT_FOUND", message: "no such route" } }),
    ]);
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
