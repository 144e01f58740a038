/**
 * Many audit rows at once, for the verification's event-loop test and its measurement
 * (bench/audit-verify-stall.ts): rows of realistic size appended in one statement (the insert
 * trigger chains them), and their seals computed as appends would and inserted in bulk.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type pg from "pg";
import type { ChainKeys } from "../../src/admin/postgres/chain-key.js";
import type { ChainRow } from "../../src/admin/postgres/chain-row.js";
import { chainColumns, GENESIS_HASH, rowHash, sealOf } from "../../src/admin/postgres/chain-row.js";

/** `rows` rows like an override.set's, with `before` and `after` snapshots, into schema `s` (quoted). */
export async function appendRows(db: pg.ClientBase | pg.Pool, s: string, rows: number): Promise<void> {
  await db.query(
    `insert into ${s}.audit_events (actor_sub, actor_iss, actor_jti, action, domain, target, before, after, reason, request_id)
     select 'alice@ops', 'https://issuer.example', 'jti-' || g, 'override.set', 'api',
            jsonb_build_object('domain', 'api', 'entries',
              jsonb_build_array(jsonb_build_object('key', 'user_id', 'value', 'user-' || g))),
            jsonb_build_object('requests_per_unit', 100, 'unit', 'minute', 'burst', null,
              'expires_at', null, 'reason', 'before'),
            jsonb_build_object('requests_per_unit', 500, 'unit', 'minute', 'burst', 600,
              'expires_at', '2030-01-01T00:00:00.000Z', 'reason', 'incident 42'),
            'incident 42: raise the limit for a customer', 'req-' || g
       from generate_series(1, $1) g`,
    [rows],
  );
}

/** Every row of schema `s`, as the verifier reads it, in id order. */
export async function chainRows(db: pg.ClientBase | pg.Pool, s: string): Promise<ChainRow[]> {
  return (await db.query<ChainRow>(`select ${chainColumns("e")} from ${s}.audit_events e order by e.id`))
    .rows;
}

/**
 * Seals every row of a log that has none yet, as appends with `keys` would have; returns the rows
 * with their seals.
 */
export async function sealAll(
  db: pg.ClientBase | pg.Pool,
  s: string,
  keys: ChainKeys,
): Promise<{ row: ChainRow; seal: string }[]> {
  let prevSeal = GENESIS_HASH;
  const sealed = (await chainRows(db, s)).map((row) => {
    prevSeal = sealOf(keys.current, { prevSeal, id: row.id, hash: rowHash(row) });
    return { row, seal: prevSeal };
  });
  await db.query(
    `insert into ${s}.audit_seals (event_id, seal, key_id)
     select unnest($1::bigint[]), unnest($2::text[]), $3`,
    [sealed.map((r) => r.row.id), sealed.map((r) => r.seal), keys.current.id],
  );
  return sealed;
}

/** How the event loop fared while some work ran (a 1 ms timer probe and perf_hooks' histogram). */
export interface Stall {
  /** The largest gap between two ticks of the 1 ms timer. */
  readonly probeMs: number;
  /** Gaps over 20 ms (Envoy's default timeout for a rate-limit call). */
  readonly over20: number;
  /** monitorEventLoopDelay's maximum and 99th percentile. */
  readonly histogramMs: number;
  readonly p99Ms: number;
}

/** The longest the event loop was blocked while `work` ran. */
export async function longestStall(work: () => Promise<unknown>): Promise<Stall> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let last = performance.now();
  let probeMs = 0;
  let over20 = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    probeMs = Math.max(probeMs, now - last);
    if (now - last > 20) over20 += 1;
    last = now;
  }, 1);
  histogram.enable();
  try {
    await work();
  } finally {
    histogram.disable();
    clearInterval(timer);
  }
  return { probeMs, over20, histogramMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6 };
}
