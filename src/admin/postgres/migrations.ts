import pg from "pg";
import { SettingsError } from "../../config/settings.js";
import type { DatabaseSettings, DatabaseTarget } from "./database-target.js";
import { chooseDatabase, startDatabaseTarget } from "./database-target.js";
import { appRoleGrants } from "./grants.js";
import { quoteSchema, secretsOf, toFloodgateError } from "./pg-errors.js";
import { MIGRATION_LOCK_SQL, MIGRATIONS } from "./schema-sql.js";

export { MIGRATIONS } from "./schema-sql.js";

export interface MigrateResult {
  /** Versions applied by this call, in order (empty when the schema was already current). */
  readonly applied: readonly number[];
  /** The schema's version afterwards. */
  readonly version: number;
}

async function appliedVersions(client: pg.ClientBase, schema: string): Promise<Set<number>> {
  const s = quoteSchema(schema);
  // `create schema if not exists` needs CREATE on the database even when the schema exists: an
  // owner role given a schema made for it (docs/audit-log.md, Roles) needs no more than that.
  const exists = await client.query("select 1 from pg_catalog.pg_namespace where nspname = $1", [schema]);
  if (exists.rowCount === 0) await client.query(`create schema ${s}`);
  await client.query(
    `create table if not exists ${s}.schema_migrations (
       version integer primary key,
       name text not null,
       applied_at timestamptz not null default now()
     )`,
  );
  const rows = await client.query<{ version: number }>(`select version from ${s}.schema_migrations`);
  return new Set(rows.rows.map((r) => r.version));
}

async function applyPending(client: pg.ClientBase, schema: string): Promise<number[]> {
  const s = quoteSchema(schema);
  // Several replicas may start at once: the lock makes the others wait, then find nothing to do.
  await client.query(MIGRATION_LOCK_SQL, [schema]);
  const done = await appliedVersions(client, schema);
  const applied: number[] = [];
  for (const migration of MIGRATIONS) {
    if (done.has(migration.version)) continue;
    await client.query(migration.sql({ schema, s }));
    await client.query(`insert into ${s}.schema_migrations (version, name) values ($1, $2)`, [
      migration.version,
      migration.name,
    ]);
    applied.push(migration.version);
  }
  return applied;
}

const LATEST = Math.max(0, ...MIGRATIONS.map((m) => m.version));

/**
 * Read-only check first, so that a least-privilege role (SELECT on schema_migrations, no DDL
 * rights) can start once an owner has run `floodgate migrate`. Any failure means "not sure".
 */
async function isCurrent(client: pg.ClientBase, schema: string): Promise<boolean> {
  try {
    const rows = await client.query<{ version: number }>(
      `select version from ${quoteSchema(schema)}.schema_migrations`,
    );
    const done = new Set(rows.rows.map((r) => r.version));
    return MIGRATIONS.every((m) => done.has(m.version));
  } catch {
    return false;
  }
}

/**
 * Brings `schema` up to the latest version in one transaction (all or nothing). `db` is a pool
 * (one client is borrowed) or a connected client. Failures throw FloodgateError UNAVAILABLE.
 */
export async function migrate(db: pg.Pool | pg.ClientBase, schema: string): Promise<MigrateResult> {
  quoteSchema(schema);
  const client = db instanceof pg.Pool ? await borrow(db) : db;
  try {
    if (await isCurrent(client, schema)) return { applied: [], version: LATEST };
    await client.query("begin");
    const applied = await applyPending(client, schema);
    await client.query("commit");
    return { applied, version: LATEST };
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw toFloodgateError(error, []);
  } finally {
    if (db instanceof pg.Pool) (client as pg.PoolClient).release();
  }
}

async function borrow(pool: pg.Pool): Promise<pg.PoolClient> {
  try {
    return await pool.connect();
  } catch (error) {
    throw toFloodgateError(error, []);
  }
}

export interface RunMigrationsResult extends MigrateResult {
  readonly target: DatabaseTarget["source"];
}

/**
 * `floodgate migrate`: DATABASE_URL when set, else the embedded database in ADMIN_DATA_DIR
 * (which must not be open in a running server at the same time; the data dir lock refuses that).
 */
export async function runMigrations(
  settings: DatabaseSettings,
  options: { grantTo?: string } = {},
): Promise<RunMigrationsResult> {
  if (options.grantTo !== undefined && chooseDatabase(settings).source === "embedded") {
    throw new SettingsError([
      "DATABASE_URL: migrate --grant-to needs a real Postgres (the embedded database has no roles to grant)",
    ]);
  }
  const target = await startDatabaseTarget(settings);
  try {
    const result = await migrateDatabase({
      connectionString: target.connection.connectionString,
      schema: settings.databaseSchema,
      ...options,
    });
    return { ...result, target: target.source };
  } finally {
    await target.stop();
  }
}

/**
 * Migrates on a connection of its own: the pool's 5 s statement timeout would be too short for a
 * replica that waits behind another's migration, or for a long migration some day.
 */
export async function migrateDatabase(options: {
  connectionString: string;
  schema: string;
  /** Also (re)grant the application role what it needs on every table (`migrate --grant-to`). */
  grantTo?: string;
}): Promise<MigrateResult> {
  const { connectionString, schema, grantTo } = options;
  const grants = grantTo === undefined ? [] : appRoleGrants(schema, grantTo);
  const client = new pg.Client({
    connectionString,
    connectionTimeoutMillis: 5000,
    statement_timeout: 120_000,
    application_name: "floodgate-migrate",
  });
  client.on("error", () => undefined); // a dropped connection also fails the pending query
  try {
    await client.connect();
    const result = await migrate(client, schema);
    for (const grant of grants) await client.query(grant);
    return result;
  } catch (error) {
    throw toFloodgateError(error, secretsOf(connectionString));
  } finally {
    await client.end().catch(() => undefined);
  }
}
