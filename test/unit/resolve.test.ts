import { describe, expect, it } from "vitest";
import { OverrideTable } from "../../src/admin/override-table.js";
import { loadRulesFromText } from "../fixtures/rules-text.js";
import type { RuleSet } from "../../src/domain/rules.js";
import type { LimitSpec, RequestDescriptor } from "../../src/limiting/types.js";
import { resolveLimits } from "../../src/limiting/resolve.js";

// Where a limit comes from: an operator's override, then the request's descriptor `limit`, then
// the rules; `replaces` applies last (README, "Rules": "Where a limit comes from").
const RULES = `
domain: svc
descriptors:
  - key: user
    rate_limit: { name: per-user, unit: minute, requests_per_unit: 10 }
  - key: plan
    value: premium
    rate_limit: { name: premium, unit: minute, requests_per_unit: 1000, replaces: [{ name: per-user }, { name: override }] }
  - key: named
    rate_limit: { name: override, unit: hour, requests_per_unit: 7 }
`;

function rules(): RuleSet {
  const domain = loadRulesFromText("svc.yaml", RULES);
  return { domains: new Map([[domain.domain, domain]]), digest: "test", ruleCount: 3 };
}

const NOW = Date.UTC(2026, 10, 29);

function operator(
  domain: string,
  entries: [string, string][],
  requestsPerUnit: number,
  expiresAtMs?: number,
) {
  return {
    id: "1",
    domain,
    entries: entries.map(([key, value]) => ({ key, value })),
    limit: { requestsPerUnit, unit: "minute" as const, burst: undefined },
    expiresAt: expiresAtMs === undefined ? undefined : new Date(expiresAtMs),
    reason: "test",
    createdBy: "ops",
    createdAt: new Date(NOW),
    updatedAt: new Date(NOW),
  };
}

function table(...records: ReturnType<typeof operator>[]): OverrideTable {
  const t = new OverrideTable();
  t.replace(records);
  return t;
}

const d = (pairs: [string, string][], descriptorLimit?: LimitSpec): RequestDescriptor => ({
  entries: pairs.map(([key, value]) => ({ key, value })),
  descriptorLimit,
  hitsAddend: undefined,
});

function resolve(
  descriptors: RequestDescriptor[],
  options: { overrides?: OverrideTable; domain?: string } = {},
) {
  return resolveLimits(
    { rules: rules(), operatorLimits: options.overrides, nowMs: NOW },
    { domain: options.domain ?? "svc", descriptors, hitsAddend: 0 },
  );
}

const hourly5: LimitSpec = { name: undefined, requestsPerUnit: 5, unit: "hour" };

describe("where a resolved limit comes from", () => {
  it("the rules, when nothing else applies", () => {
    const [limit] = resolve([d([["user", "alice"]])]);
    expect(limit).toMatchObject({ source: "rules", rule: { name: "per-user", requestsPerUnit: 10 } });
  });

  it("the request's descriptor `limit` over the rules", () => {
    const [limit] = resolve([d([["user", "alice"]], hourly5)]);
    expect(limit).toMatchObject({ source: "descriptor", rule: { requestsPerUnit: 5, unit: "hour" } });
    expect(limit?.descriptorLimit).toEqual(hourly5);
  });

  it("an operator's override over the descriptor `limit` and the rules", () => {
    const overrides = table(operator("svc", [["user", "alice"]], 2));
    const [limit] = resolve([d([["user", "alice"]], hourly5)], { overrides });
    expect(limit).toMatchObject({ source: "operator", rule: { requestsPerUnit: 2, unit: "minute" } });
    expect(limit?.descriptorLimit).toBeUndefined();
  });

  it("an expired operator override no longer applies", () => {
    const overrides = table(operator("svc", [["user", "alice"]], 2, NOW));
    expect(resolve([d([["user", "alice"]])], { overrides })[0]?.source).toBe("rules");
  });

  it("an operator override in a domain the rules do not know", () => {
    const overrides = table(operator("other", [["user", "alice"]], 2));
    const [hit, miss] = resolve([d([["user", "alice"]]), d([["user", "bob"]], hourly5)], {
      overrides,
      domain: "other",
    });
    expect(hit).toMatchObject({ source: "operator", rule: { requestsPerUnit: 2 } });
    // As in the reference server, an unknown domain matches nothing, not even a descriptor `limit`.
    expect(miss).toBeUndefined();
  });

  it("a rule named `override` is a rule like any other", () => {
    const [limit] = resolve([d([["named", "x"]])]);
    expect(limit).toMatchObject({ source: "rules", rule: { name: "override", requestsPerUnit: 7 } });
  });
});

describe("replaces, after precedence", () => {
  it("drops a rules limit that another matched limit replaces", () => {
    const [user, plan] = resolve([d([["user", "alice"]]), d([["plan", "premium"]])]);
    expect(user).toBeUndefined();
    expect(plan?.rule.name).toBe("premium");
  });

  it("never drops an operator's override, whatever a rule's `replaces` names", () => {
    const overrides = table(operator("svc", [["user", "alice"]], 2));
    const [user, plan] = resolve([d([["user", "alice"]]), d([["plan", "premium"]])], { overrides });
    expect(user).toMatchObject({ source: "operator", rule: { requestsPerUnit: 2 } });
    expect(plan?.rule.name).toBe("premium");
  });

  it("drops a rule named `override` when replaced, as any named rule", () => {
    const [named, plan] = resolve([d([["named", "x"]]), d([["plan", "premium"]])]);
    expect(named).toBeUndefined();
    expect(plan?.source).toBe("rules");
  });
});
