/**
 * Unique schemas and roles for the audit-store tests on a (possibly shared) Postgres. Everything
 * created here carries a random name and is dropped by `cleanup`; nothing else is touched.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { ChainRow } from "../../../src/admin/postgres/chain-row.js";
import { chainColumns, contentOf, rowHash } from "../../../src/admin/postgres/chain-row.js";
import { appRoleGrants } from "../../../src/admin/postgres/grants.js";
import type { MigrateResult } from "../../../src/admin/postgres/migrations.js";
import { migrate } from "../../../src/admin/postgres/migrations.js";
import type { AdminDatabase, AdminDatabaseOptions } from "../../../src/admin/postgres/admin-database.js";
import { connectAdminDatabase } from "../../../src/admin/postgres/admin-database.js";
import type { PoolOptions } from "../../../src/admin/postgres/pg-db.js";
import type { AuditLog, OverrideRepository } from "../../../src/admin/ports.js";
import type { Actor, ChangeContext } from "../../../src/admin/types.js";
import type { PostgresTarget } from "../../harness/postgres.js";
import { findPostgres } from "../../harness/postgres.js";
import { useFixture } from "../../harness/fixture.js";
import { sleep } from "../../harness/processes.js";

export const LIMIT = { requestsPerUnit: 10, unit: "minute", burst: undefined } as const;

export const user = (id: string) => [{ key: "user_id", value: id }];

/** A bucket reset that succeeds (the tests here look at the audit row, not at a bucket). */
export const noop = (): Promise<void> => Promise.resolve();

/** Polls `check` every 10 ms; resolves with the time it took, or throws after `ms`. */
export async function within(ms: number, check: () => boolean): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await sleep(10);
  }
  return Date.now() - start;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

/** The same server and database as `url`, as another user (trust auth: no password). */
export function asUser(url: string, user: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = "";
  return u.toString();
}

export function actor(sub: string, jti?: string): Actor {
  return { sub, iss: "https://issuer.test", jti };
}

export function ctx(sub: string, reason = "test"): ChangeContext {
  return { actor: actor(sub, `jti-${sub}`), reason, requestId: `req-${randomBytes(3).toString("hex")}` };
}

/** Text whose JSON forms are easy to get wrong: control characters, quotes, non-BMP, U+2028. */
export const AWKWARD_TEXT = 'q"\\/\u0001\u001f\b\f\n\r\t\u007f é 😀 \u2028 end';

/** Rows with awkward text in every column, and numbers that jsonb writes its own way. */
export async function writeAwkwardRows(database: AdminDatabase): Promise<void> {
  const context = { actor: actor(AWKWARD_TEXT, AWKWARD_TEXT), reason: AWKWARD_TEXT, requestId: AWKWARD_TEXT };
  const entries = [{ key: AWKWARD_TEXT, value: AWKWARD_TEXT }];
  await database.overrides.setOverride({
    domain: "awk",
    entries,
    limit: LIMIT,
    expiresAt: new Date(Date.UTC(2100, 0, 1, 0, 0, 0, 7)),
    context,
  });
  await database.auditLog.resetBucket({ domain: "awk", entries, context }, noop);
  await database.auditLog
    .resetBucket({ domain: "awk", entries, context }, () => Promise.reject(new Error(AWKWARD_TEXT)))
    .catch(() => undefined);
  const summary = {
    n: 1.5,
    big: 1e21,
    small: 1e-7,
    neg: -0,
    int: 2 ** 60,
    s: AWKWARD_TEXT,
    nested: [{ z: 1, a: null }],
  };
  await database.auditLog.recordRulesReload({ digest: AWKWARD_TEXT, summary });
}

/** Ids of rows whose content or hash, as Floodgate computes them, differ from the schema's own functions. */
export async function chainTextMismatches(
  query: (sql: string) => Promise<(ChainRow & { db_content: string })[]>,
  schema: string,
): Promise<string[]> {
  const s = `"${schema}"`;
  const rows = await query(
    `select ${chainColumns("e")}, ${s}.audit_event_content(e) as db_content from ${s}.audit_events e order by e.id`,
  );
  if (rows.length === 0) throw new Error("no rows to compare");
  return rows.filter((r) => contentOf(r) !== r.db_content || rowHash(r) !== r.hash).map((r) => r.id);
}

/** A superuser connection for setup, tampering and cleanup of what this run created. */
export class TestDb {
  readonly schemas: string[] = [];
  readonly roles: string[] = [];
  readonly databases: AdminDatabase[] = [];
  readonly admin: pg.Pool;

  constructor(readonly url: string) {
    this.admin = new pg.Pool({ connectionString: url, max: 3 });
  }

  async query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.admin.query<T>(sql, params)).rows;
  }

  /** A new migrated schema (name recorded for cleanup). */
  async freshSchema(): Promise<string> {
    const schema = uniqueName("fg_audit");
    this.schemas.push(schema);
    await migrate(this.admin, schema);
    return schema;
  }

  /** A login role with only what the application needs on `schema`. */
  async appRole(schema: string): Promise<string> {
    const role = uniqueName("fg_app");
    this.roles.push(role);
    await this.query(`create role ${role} login`);
    // A session time zone far from UTC: hashes must not depend on it.
    await this.query(`alter role ${role} set timezone = 'Asia/Kathmandu'`);
    for (const grant of appRoleGrants(schema, role)) await this.query(grant);
    return role;
  }

  /**
   * A schema created for, and migrated by, a new login role that is not a superuser: the owner
   * role of the deploy examples, which can disable the audit triggers.
   */
  async ownedSchema(): Promise<{ schema: string; owner: string; ownerUrl: string }> {
    const schema = uniqueName("fg_owned");
    const owner = uniqueName("fg_owner");
    this.schemas.push(schema);
    this.roles.push(owner);
    await this.query(`create role ${owner} login`);
    await this.query(`create schema "${schema}" authorization ${owner}`);
    const ownerUrl = asUser(this.url, owner);
    const client = new pg.Client(ownerUrl);
    await client.connect();
    try {
      await migrate(client, schema);
    } finally {
      await client.end();
    }
    return { schema, owner, ownerUrl };
  }

  /** Overrides and the audit log on this Postgres (as the superuser unless `connectionString` says otherwise). */
  async connect(
    options: AdminDatabaseOptions & { connectionString?: string; pool?: PoolOptions },
  ): Promise<AdminDatabase> {
    const { connectionString = this.url, pool, ...rest } = options;
    const database = await connectAdminDatabase({ connectionString, pool, notifications: "listen" }, rest);
    this.databases.push(database);
    return database;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.databases.map((d) => d.close().catch(() => undefined)));
    for (const schema of this.schemas) await this.query(`drop schema if exists "${schema}" cascade`);
    for (const role of this.roles) {
      await this.query(`select pg_terminate_backend(pid) from pg_stat_activity where usename = $1`, [role]);
      await this.query(`drop role if exists ${role}`);
    }
    await this.admin.end();
  }
}

export interface AuditFixture {
  readonly postgres: PostgresTarget;
  readonly db: TestDb;
  /** Migrated by two connections at once (as replicas starting together would). */
  readonly schema: string;
  readonly migrations: readonly MigrateResult[];
  /** The application role's URL (least privilege), and a database connected with it. */
  readonly appUrl: string;
  readonly database: AdminDatabase;
  readonly overrides: OverrideRepository;
  readonly auditLog: AuditLog;
  auditCount(where?: string, params?: unknown[]): Promise<number>;
  cleanup(): Promise<void>;
}

export async function auditFixture(): Promise<AuditFixture> {
  const postgres = await findPostgres();
  const db = new TestDb(postgres.url);
  const schema = uniqueName("fg_audit");
  db.schemas.push(schema);
  const clients = [new pg.Client(postgres.url), new pg.Client(postgres.url)];
  await Promise.all(clients.map((c) => c.connect()));
  const migrations = await Promise.all(clients.map((c) => migrate(c, schema)));
  await Promise.all(clients.map((c) => c.end()));
  const appUrl = asUser(postgres.url, await db.appRole(schema));
  const database = await db.connect({ connectionString: appUrl, schema });
  return {
    postgres,
    db,
    schema,
    migrations,
    appUrl,
    database,
    overrides: database.overrides,
    auditLog: database.auditLog,
    auditCount: async (where = "true", params = []) => {
      const sql = `select count(*) as n from "${schema}".audit_events where ${where}`;
      return Number((await db.query<{ n: string }>(sql, params))[0]!.n);
    },
    cleanup: async () => {
      await db.cleanup();
      await postgres.stop();
    },
  };
}

/** For a test file: `auditFixture()` made in beforeAll and cleaned up in afterAll. */
export function useAuditFixture(): AuditFixture {
  return useFixture(auditFixture, (fixture) => fixture.cleanup());
}
