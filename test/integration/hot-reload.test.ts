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

describe("hot reload: MERGE_DOMAIN_CONFIG and keys that have no effect", () => {
  const part = (key: string, rpu: number, extra = "") =>
    `domain: merged\ndescriptors:\n  - key: ${key}\n${extra}    rate_limit: { unit: minute, requests_per_unit: ${rpu} }\n`;
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      memory: true,
      env: { MERGE_DOMAIN_CONFIG: "true" },
      rules: { "a.yaml": `key: stray\n${part("user", 10)}`, "b.yaml": part("path", 20) },
    });
  });
  afterAll(async () => server.stop());

  const limitFor = async (key: string) => {
    const res = await call<ProtoResponse>(
      server.rls,
      "ShouldRateLimit",
      rlsRequest("merged", [[[key, "x"]]]),
    );
    return res.statuses[0]!.current_limit?.requests_per_unit;
  };
  const warnings = () =>
    server.logs.filter((l) => l.level === 40 && String(l.msg).includes("has no effect")).map((l) => l.msg);

  it("serves one domain from two files, logs the warnings at start and at each reload", async () => {
    expect(await limitFor("user")).toBe(10);
    expect(await limitFor("path")).toBe(20);
    expect(warnings()).toEqual([expect.stringMatching(/a\.yaml:1: key: has no effect/)]);

    await server.writeRules("b.yaml", part("path", 30, "    name: misplaced\n"));
    await eventually(async () => (await limitFor("path")) === 30);
    expect(warnings().slice(1)).toEqual([
      expect.stringMatching(/a\.yaml:1: key: has no effect/),
      expect.stringMatching(/b\.yaml:4: descriptors\[0\]\.name: has no effect/),
    ]);
  });
});
