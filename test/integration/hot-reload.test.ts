import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProtoResponse, TestServer } from "./support/floodgate.js";
import { call, rlsRequest, startTestServer } from "./support/floodgate.js";

const rules = (rpu: number) => `
domain: hot
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: ${rpu} }
`;

/** Polls until the predicate holds; reloads are asynchronous (debounced events, or the poll). */
async function eventually(predicate: () => Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("condition not met in time");
}

describe("hot reload of the rules", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ rules: { "hot.yaml": rules(10) } });
  });
  afterAll(async () => server.stop());

  const limitFor = async (user: string) => {
    const res = await call<ProtoResponse>(
      server.rls,
      "ShouldRateLimit",
      rlsRequest("hot", [[["user", user]]]),
    );
    return res.statuses[0]!.current_limit?.requests_per_unit;
  };
  const reloads = async (result: string) => {
    const text = await server.app.metrics.registry.getSingleMetricAsString("floodgate_config_reloads_total");
    const match = new RegExp(`result="${result}"} (\\d+)`).exec(text);
    return Number(match?.[1] ?? 0);
  };

  it("applies a good change, keeps the old rules on a bad one, then recovers", async () => {
    expect(await limitFor("a")).toBe(10);

    await server.writeRules("hot.yaml", rules(20));
    await eventually(async () => (await limitFor("a")) === 20);
    expect(await reloads("success")).toBeGreaterThanOrEqual(1);

    await server.writeRules(
      "hot.yaml",
      "domain: hot\ndescriptors:\n  - key: user\n    rate_limit: { unit: fortnight }\n",
    );
    await eventually(async () => (await reloads("error")) >= 1);
    expect(await limitFor("b")).toBe(20);
    expect(server.app.rules.current().ruleCount).toBe(1);

    await server.writeRules("hot.yaml", rules(30));
    await eventually(async () => (await limitFor("c")) === 30);
  });
});
