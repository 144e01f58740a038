import { describe, expect, it } from "vitest";
import { loadRulesFromText } from "../fixtures/rules-text.js";
import type { RuleSet } from "../../src/domain/rules.js";
import { OverrideTable } from "../../src/admin/override-table.js";
import { createCheckLimit } from "../../src/limiting/check-limit.js";
import type { Outcome } from "../../src/limiting/rate-limiter.js";
import { createRateLimiter } from "../../src/limiting/rate-limiter.js";
import type { LimitRequest, RequestDescriptor } from "../../src/limiting/types.js";
import type { BucketCheck } from "../../src/domain/bucket.js";
import { createMemoryStore } from "../../src/store/local/memory-store.js";

const RULES = `
domain: svc
descriptors:
  - key: user
    rate_limit: { name: per-user, unit: second, requests_per_unit: 2, burst: 4 }
    descriptors:
      - key: op
        rate_limit: { name: per-op, unit: minute, requests_per_unit: 60 }
  - key: op
    rate_limit: { unit: second, requests_per_unit: 10 }
  - key: zero
    rate_limit: { unit: second, requests_per_unit: 0 }
  - key: quiet
    shadow_mode: true
    rate_limit: { unit: hour, requests_per_unit: 1 }
`;

function ruleSet(): RuleSet {
  const domain = loadRulesFromText("svc.yaml", RULES);
  return { domains: new Map([[domain.domain, domain]]), digest: "test", ruleCount: 5 };
}

/** A limiter on the real in-memory store with a clock the test moves by hand. */
function setup(
  options: { shadowMode?: boolean; descriptorLimits?: boolean; operatorLimits?: OverrideTable } = {},
) {
  let nowUs = 1_000_000;
  const outcomes: Outcome[] = [];
  const store = createMemoryStore({ maxBuckets: 1000, clock: () => nowUs });
  const rules = ruleSet();
  const limiter = createRateLimiter({
    rules: { current: () => rules },
    store,
    shadowMode: options.shadowMode ?? false,
    responseHeaders: true,
    descriptorLimits: options.descriptorLimits ?? true,
    observer: { onDecision: (e) => outcomes.push(e.outcome) },
    operatorLimits: options.operatorLimits,
    now: () => nowUs / 1000,
  });
  const advance = (ms: number) => {
    nowUs += ms * 1000;
  };
  return { limiter, store, advance, outcomes, now: () => nowUs / 1000 };
}

const d = (...pairs: [string, string][]): RequestDescriptor => ({
  entries: pairs.map(([key, value]) => ({ key, value })),
  descriptorLimit: undefined,
  hitsAddend: undefined,
});
const req = (descriptors: RequestDescriptor[], hitsAddend = 0): LimitRequest => ({
  domain: "svc",
  descriptors,
  hitsAddend,
});

describe("rate limiter on the in-memory store", () => {
  it("allows a burst of C, then one request per 1/r seconds", async () => {
    const { limiter, advance } = setup();
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await limiter.decide(req([d(["user", "a"])]))).overallCode);
    expect(codes).toEqual(["OK", "OK", "OK", "OK", "OVER_LIMIT"]);
    advance(499);
    expect((await limiter.decide(req([d(["user", "a"])]))).overallCode).toBe("OVER_LIMIT");
    advance(1);
    const res = await limiter.decide(req([d(["user", "a"])]));
    expect(res.overallCode).toBe("OK");
    expect(res.statuses[0]).toMatchObject({ limitRemaining: 0, resetMs: 2000 });
  });

  it("charges no bucket when one denies, and reports the blocker's retry time", async () => {
    const { limiter } = setup();
    const both = req([d(["op", "read"]), d(["user", "b"])], 4);
    expect((await limiter.decide(both)).overallCode).toBe("OK");
    const denied = await limiter.decide(both);
    expect(denied.overallCode).toBe("OVER_LIMIT");
    expect(denied.statuses.map((s) => s.code)).toEqual(["OK", "OVER_LIMIT"]);
    expect(denied.statuses[0]!.limitRemaining).toBe(6);
    expect(denied.statuses[1]).toMatchObject({ limitRemaining: 0, retryMs: 2000 });
    const opOnly = await limiter.decide(req([d(["op", "read"])]));
    expect(opOnly.statuses[0]!.limitRemaining).toBe(5);
  });

  it("denies a cost above capacity forever, suggesting one unit", async () => {
    const { limiter } = setup();
    const res = await limiter.decide(req([d(["user", "c"])], 5));
    expect(res.overallCode).toBe("OVER_LIMIT");
    expect(res.statuses[0]).toMatchObject({ limitRemaining: 4, retryMs: 1000 });
  });

  it("denies on requests_per_unit 0 without touching other buckets", async () => {
    const { limiter } = setup();
    const res = await limiter.decide(req([d(["zero", "z"]), d(["user", "e"])]));
    expect(res.overallCode).toBe("OVER_LIMIT");
    expect(res.statuses[0]).toMatchObject({ code: "OVER_LIMIT", limitRemaining: 0 });
    const user = await limiter.decide(req([d(["user", "e"])]));
    expect(user.statuses[0]!.limitRemaining).toBe(3);
  });

  // README, "Token bucket semantics": a bucket a static denial did not consult reports
  // limit_remaining 0 and no reset ("not consulted"), never a state it would need a store call for.
  it("reports the buckets a requests_per_unit 0 denial did not consult as OK, 0 left, no reset", async () => {
    const { limiter } = setup();
    await limiter.decide(req([d(["user", "n"])]));
    const res = await limiter.decide(req([d(["user", "n"]), d(["zero", "z"]), d(["op", "o"])]));
    expect(res.overallCode).toBe("OVER_LIMIT");
    const notConsulted = { code: "OK", limitRemaining: 0, resetMs: 0, retryMs: 0 };
    expect(res.statuses[0]).toEqual({
      ...notConsulted,
      currentLimit: { name: "per-user", requestsPerUnit: 2, unit: "second" },
    });
    expect(res.statuses[2]).toMatchObject({ ...notConsulted, currentLimit: { requestsPerUnit: 10 } });
    expect(res.statuses[1]).toMatchObject({ code: "OVER_LIMIT", limitRemaining: 0, retryMs: 1000 });
    // The headers explain the denial: the zero limit wins the tie at 0 left.
    expect(res.responseHeaders[0]).toEqual({ key: "RateLimit-Limit", value: "0, 0;w=1" });
    // The per-user bucket still holds what the first request left: 4 - 1 - 1 (this check) = 2.
    const user = await limiter.decide(req([d(["user", "n"])]));
    expect(user.statuses[0]!.limitRemaining).toBe(2);
  });

  it("lets a shadow bucket run dry without denying, and counts it", async () => {
    const { limiter, outcomes } = setup();
    await limiter.decide(req([d(["quiet", "q"])]));
    const res = await limiter.decide(req([d(["quiet", "q"])]));
    expect(res.overallCode).toBe("OK");
    expect(res.statuses[0]).toMatchObject({ code: "OK", limitRemaining: 0 });
    expect(outcomes).toEqual(["allowed", "shadow_denied"]);
  });

  it("in global shadow mode reports OK but keeps per-descriptor codes, and takes nothing", async () => {
    const { limiter, outcomes } = setup({ shadowMode: true });
    await limiter.decide(req([d(["user", "g"])], 4));
    const res = await limiter.decide(req([d(["user", "g"])]));
    expect(res.overallCode).toBe("OK");
    expect(res.statuses[0]!.code).toBe("OVER_LIMIT");
    expect(outcomes).toEqual(["allowed", "shadow_denied"]);
  });

  it("builds RateLimit headers from the most restrictive status", async () => {
    const { limiter } = setup();
    const res = await limiter.decide(req([d(["op", "w"]), d(["user", "h"])]));
    expect(res.responseHeaders).toEqual([
      { key: "RateLimit-Limit", value: '2, 2;w=1;name="per-user"' },
      { key: "RateLimit-Remaining", value: "3" },
      { key: "RateLimit-Reset", value: "1" },
    ]);
  });

  it("counts a descriptor limit override in its own bucket, per rate and unit", async () => {
    const { limiter } = setup();
    const limited = (requestsPerUnit: number, unit: "second" | "minute"): RequestDescriptor => ({
      ...d(["user", "v"]),
      descriptorLimit: { name: undefined, requestsPerUnit, unit },
    });
    for (let i = 0; i < 4; i++) await limiter.decide(req([d(["user", "v"])]));
    expect((await limiter.decide(req([d(["user", "v"])]))).overallCode).toBe("OVER_LIMIT");
    // A huge override neither refills nor drains the rules' bucket, nor another override's.
    expect((await limiter.decide(req([limited(4_000_000_000, "second")]))).overallCode).toBe("OK");
    expect((await limiter.decide(req([d(["user", "v"])]))).overallCode).toBe("OVER_LIMIT");
    const once = await limiter.decide(req([limited(1, "minute")]));
    expect(once.statuses[0]).toMatchObject({ code: "OK", limitRemaining: 0 });
    expect((await limiter.decide(req([limited(1, "minute")]))).overallCode).toBe("OVER_LIMIT");
    expect((await limiter.decide(req([limited(1, "second")]))).overallCode).toBe("OK");
  });

  it("applies an operator's override over the descriptor limit and the rules, until it expires", async () => {
    const operatorLimits = new OverrideTable();
    const { limiter, advance, now } = setup({ operatorLimits });
    operatorLimits.upsert({
      id: "1",
      domain: "svc",
      entries: [{ key: "user", value: "op" }],
      limit: { requestsPerUnit: 1, unit: "minute", burst: undefined },
      expiresAt: new Date(now() + 120_000),
      reason: "test",
      createdBy: "ops",
      createdAt: new Date(0),
      updatedAt: new Date(0),
    });
    const withLimit = {
      ...d(["user", "op"]),
      descriptorLimit: { name: undefined, requestsPerUnit: 9, unit: "second" as const },
    };
    const first = await limiter.decide(req([withLimit]));
    expect(first.statuses[0]).toMatchObject({
      code: "OK",
      currentLimit: { name: "override", requestsPerUnit: 1, unit: "minute" },
    });
    expect((await limiter.decide(req([d(["user", "op"])]))).overallCode).toBe("OVER_LIMIT");
    advance(120_000);
    const after = await limiter.decide(req([d(["user", "op"])]));
    expect(after.statuses[0]?.currentLimit).toMatchObject({ name: "per-user", requestsPerUnit: 2 });
  });

  it("ignores a descriptor limit override when DESCRIPTOR_LIMIT_OVERRIDES is false", async () => {
    const { limiter } = setup({ descriptorLimits: false });
    const limited = {
      ...d(["user", "w"]),
      descriptorLimit: { name: undefined, requestsPerUnit: 1, unit: "hour" as const },
    };
    const res = await limiter.decide(req([limited]));
    expect(res.statuses[0]).toMatchObject({
      code: "OK",
      currentLimit: { name: "per-user", requestsPerUnit: 2, unit: "second" },
      limitRemaining: 3,
    });
    expect((await limiter.decide(req([d(["user", "w"])]))).statuses[0]!.limitRemaining).toBe(2);
  });

  it("hands the store each bucket's identity: domain, matched entries, and a descriptor limit", async () => {
    const asked: BucketCheck[] = [];
    const rules = ruleSet();
    const limiter = createRateLimiter({
      rules: { current: () => rules },
      store: {
        evaluate: (checks) => {
          asked.push(...checks);
          const outcome = { sufficient: true, remaining: 1, resetMs: 0, retryMs: 0 };
          return Promise.resolve({ allowed: true, outcomes: checks.map(() => outcome), source: "local" });
        },
      },
      shadowMode: false,
      responseHeaders: false,
    });
    const limited: RequestDescriptor = {
      ...d(["user", "b"]),
      descriptorLimit: { name: undefined, requestsPerUnit: 3, unit: "minute" },
    };
    await limiter.decide(req([d(["user", "a"], ["op", "r"]), limited]));
    expect(asked.map((check) => check.bucket)).toEqual([
      {
        domain: "svc",
        entries: [
          { key: "user", value: "a" },
          { key: "op", value: "r" },
        ],
      },
      {
        domain: "svc",
        entries: [{ key: "user", value: "b" }],
        descriptorLimit: { name: undefined, requestsPerUnit: 3, unit: "minute" },
      },
    ]);
  });

  it("rejects bad input before touching any bucket", async () => {
    const { limiter, store } = setup();
    await expect(limiter.decide({ domain: "", descriptors: [], hitsAddend: 0 })).rejects.toThrow(
      "invalid request: domain",
    );
    await expect(limiter.decide(req([d(["us\u0000er", "a"])]))).rejects.toThrow(
      "descriptors[0].entries[0].key",
    );
    expect(store.size()).toBe(0);
  });
});

describe("CheckLimit mapping", () => {
  it("reports the most restrictive bucket and the longest wait among the blockers", async () => {
    const { limiter, now } = setup();
    const check = createCheckLimit({ limiter, domain: "svc", now });
    // svc has no user_id/endpoint rules: nothing limits, so the answer is unlimited.
    const open = await check({ userId: "u", endpoint: "/x", weight: 0 });
    expect(open).toMatchObject({ allowed: true, remaining: 4_294_967_295, retryAfterMs: 0 });
  });

  it("maps user and endpoint to three descriptors all or nothing", async () => {
    const rules = loadRulesFromText(
      "api.yaml",
      `domain: api
descriptors:
  - key: user_id
    rate_limit: { unit: second, requests_per_unit: 1, burst: 3 }
    descriptors:
      - key: endpoint
        rate_limit: { unit: minute, requests_per_unit: 2 }
  - key: endpoint
    rate_limit: { unit: hour, requests_per_unit: 100 }
`,
    );
    let nowUs = 0;
    const limiter = createRateLimiter({
      rules: { current: () => ({ domains: new Map([["api", rules]]), digest: "x", ruleCount: 3 }) },
      store: createMemoryStore({ maxBuckets: 100, clock: () => nowUs }),
      shadowMode: false,
      responseHeaders: false,
    });
    const check = createCheckLimit({ limiter, domain: "api", now: () => 1_700_000_000_000 + nowUs / 1000 });
    expect(await check({ userId: "u", endpoint: "/e", weight: 2 })).toMatchObject({
      allowed: true,
      remaining: 0,
    });
    const denied = await check({ userId: "u", endpoint: "/e", weight: 1 });
    expect(denied).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 30_000 });
    expect(denied.resetAt.getTime()).toBe(1_700_000_000_000 + 60_000);
    nowUs += 30_000_000;
    expect(await check({ userId: "u", endpoint: "/e", weight: 1 })).toMatchObject({ allowed: true });
  });

  it("rejects a bad weight and a request with neither user nor endpoint", async () => {
    const { limiter, now } = setup();
    const check = createCheckLimit({ limiter, domain: "svc", now });
    await expect(check({ userId: "u", endpoint: "", weight: -1 })).rejects.toThrow("invalid request: weight");
    await expect(check({ userId: "u", endpoint: "", weight: 1.5 })).rejects.toThrow(
      "invalid request: weight",
    );
    await expect(check({ userId: "", endpoint: "", weight: 1 })).rejects.toThrow("invalid request: user_id");
  });
});
