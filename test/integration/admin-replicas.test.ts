import { status } from "@grpc/grpc-js";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FloodgateProcess } from "../harness/floodgate-process.js";
import { startFloodgateProcess } from "../harness/floodgate-process.js";
import type { PrivatePostgres } from "../harness/postgres.js";
import { startLocalPostgres } from "../harness/postgres.js";
import type { AdminFixture } from "./support/admin.js";
import { adminFixture } from "./support/admin.js";
import type { ProtoResponse } from "./support/floodgate.js";
import { readyz, waitFor } from "./support/faults.js";
import { call, OK, rlsRequest } from "./support/floodgate.js";

const RULES =
  "domain: edge\ndescriptors:\n  - key: user\n    rate_limit: { unit: minute, requests_per_unit: 100 }\n";

/** Two real processes on one private Postgres (private, so this test may stop it). */
describe("admin across replicas", () => {
  let postgres: PrivatePostgres;
  let fixture: AdminFixture;
  let dir: string;
  let a: FloodgateProcess;
  let b: FloodgateProcess;

  beforeAll(async () => {
    postgres = await startLocalPostgres();
    fixture = await adminFixture(postgres);
    dir = await mkdtemp(join(tmpdir(), "fg-replicas-"));
    await writeFile(join(dir, "edge.yaml"), RULES);
    const env = { ...fixture.env, OVERRIDE_RESYNC_MS: "5000" };
    [a, b] = await Promise.all([
      startFloodgateProcess({ rulesPath: dir, env }),
      startFloodgateProcess({ rulesPath: dir, env }),
    ]);
  });
  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await fixture.cleanup();
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const limitOn = async (proc: FloodgateProcess, user: string) => {
    const res = await call<ProtoResponse>(
      proc.rls,
      "ShouldRateLimit",
      rlsRequest("edge", [[["user", user]]]),
    );
    return res.statuses[0]!.current_limit?.requests_per_unit;
  };

  it("applies a change made on one replica on the other within 1 s", async () => {
    const admin = fixture.client(a.grpcAddress);
    expect(await limitOn(b, "mallory")).toBe(100);
    await admin.call("SetOverride", {
      target: { domain: "edge", entries: [{ key: "user", value: "mallory" }] },
      limit: { requests_per_unit: 7, unit: 2 },
      reason: "propagation test",
    });
    const start = Date.now();
    while ((await limitOn(b, "mallory")) !== 7) {
      expect(Date.now() - start).toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 20));
    }
    admin.close();
  });

  it("with Postgres down, admin writes fail with UNAVAILABLE and rate limiting carries on; then recovers", async () => {
    const admin = fixture.client(a.grpcAddress, { deadlineMs: 15_000 });
    await postgres.stopServer();
    const started = Date.now();
    const err = (await admin
      .call("SetOverride", {
        target: { user_id: "x" },
        limit: { requests_per_unit: 1, unit: 1 },
        reason: "while down",
      })
      .catch((e: unknown) => e)) as { code: number; details: string };
    expect(err).toMatchObject({ code: status.UNAVAILABLE, details: "audit store unavailable" });
    expect(Date.now() - started).toBeLessThan(8000);
    // The hot path keeps serving, overrides included.
    const res = await call<ProtoResponse>(
      b.rls,
      "ShouldRateLimit",
      rlsRequest("edge", [[["user", "mallory"]]]),
    );
    expect(res.overall_code).toBe(OK);
    expect(res.statuses[0]!.current_limit?.requests_per_unit).toBe(7);
    // /readyz answers anyone: the state only, never the reason (docs/security.md, threat 8); and
    // the service stays ready.
    const postgresState = async () => {
      const ready = await readyz(a.httpUrl);
      expect(ready.status).toBe(200);
      return ready.components["postgres"];
    };
    await waitFor("/readyz to show postgres not ok", async () => (await postgresState()) !== "ok", {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    expect(await postgresState()).toBe("degraded");

    await postgres.startServer();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ok = await admin
        .call("SetOverride", {
          target: { domain: "edge", entries: [{ key: "user", value: "back" }] },
          limit: { requests_per_unit: 3, unit: 2 },
          reason: "after restart",
        })
        .then(
          () => true,
          () => false,
        );
      if (ok) break;
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await limitOn(a, "back")).toBe(3);
    await waitFor("/readyz to show postgres ok again", async () => (await postgresState()) === "ok", {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const rows = await fixture.query<{ n: string }>(
      `select count(*) as n from ${fixture.schema}.audit_events where reason = 'while down'`,
    );
    expect(rows[0]!.n).toBe("0");
    admin.close();
  }, 45_000);
});
