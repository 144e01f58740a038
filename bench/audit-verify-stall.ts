/**
 * How long VerifyAuditLog blocks the event loop (docs/audit-log.md, "Verification"): a replica
 * that walks the log must still answer ShouldRateLimit within Envoy's 20 ms. Not a test: it
 * measures and prints. After `make build`:
 *
 *     node dist/bench/audit-verify-stall.js [POSTGRES_URL] [ROWS]
 *
 * (default postgres://postgres@127.0.0.1:5432/test, 20000 rows). It creates a schema of its own,
 * fills it with sealed rows of realistic size, walks it with `full: true` a few times with and
 * without the key, reports the longest stall seen by a 1 ms timer probe and by
 * perf_hooks.monitorEventLoopDelay (and, to tell them apart from the machine's own noise, the same
 * probe while idle for as long), and drops the schema.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { parseChainKeys } from "../src/admin/postgres/chain-key.js";
import { migrate } from "../src/admin/postgres/migrations.js";
import { connectAdminDatabase } from "../src/admin/postgres/admin-database.js";
import type { AuditLog } from "../src/admin/ports.js";
import { appendRows, longestStall, sealAll } from "../test/harness/audit-rows.js";

const url = process.argv[2] ?? "postgres://postgres@127.0.0.1:5432/test";
const rows = Number(process.argv[3] ?? 20_000);
const RUNS = 5;
const keys = parseChainKeys(randomBytes(36).toString("base64"));

const fmt = (ms: number): string => ms.toFixed(1);

async function measure(label: string, auditLog: AuditLog): Promise<void> {
  for (let run = 1; run <= RUNS; run++) {
    const started = performance.now();
    let checked = 0;
    const stall = await longestStall(async () => {
      const result = await auditLog.verifyAuditLog({ full: true });
      if (!result.ok) throw new Error(`verification failed: ${JSON.stringify(result.firstBroken)}`);
      checked = result.checked;
    });
    const ms = performance.now() - started;
    // The machine's own noise for as long, with nothing running: what no code change can remove.
    const idle = await longestStall(() => new Promise((resolve) => setTimeout(resolve, ms)));
    console.log(
      `${label} run ${run}: ${checked} rows in ${ms.toFixed(0)} ms; longest stall ${fmt(stall.probeMs)} ms ` +
        `(histogram max ${fmt(stall.histogramMs)}, p99 ${fmt(stall.p99Ms)}), ${stall.over20} over 20 ms; ` +
        `idle for as long: longest ${fmt(idle.probeMs)} ms, ${idle.over20} over 20 ms`,
    );
  }
}

async function main(): Promise<void> {
  const schema = `fg_stall_${randomBytes(4).toString("hex")}`;
  const s = `"${schema}"`;
  const admin = new pg.Client(url);
  await admin.connect();
  try {
    await migrate(admin, schema);
    await appendRows(admin, s, rows);
    await sealAll(admin, s, keys);
    for (const [label, chainKeys] of [
      ["with the key", keys],
      ["without a key", undefined],
    ] as const) {
      const database = await connectAdminDatabase(
        { connectionString: url, notifications: "listen" },
        { schema, migrate: false, ...(chainKeys === undefined ? {} : { chainKeys }) },
      );
      try {
        await measure(label, database.auditLog);
      } finally {
        await database.close();
      }
    }
  } finally {
    await admin.query(`drop schema if exists ${s} cascade`);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
