import type { AuditLog, OverrideRepository } from "../ports.js";
import { PgAuditLog } from "./audit-log.js";
import type { ChainKeys } from "./chain-key.js";
import type { DatabaseSettings, DatabaseTarget } from "./database-target.js";
import { startDatabaseTarget } from "./database-target.js";
import type { MigrateResult } from "./migrations.js";
import { migrateDatabase } from "./migrations.js";
import { PgOverrideRepository } from "./override-repository.js";
import { ChangeFeed } from "./pg-change-feed.js";
import type { AppendRefusal, DatabaseConnection } from "./pg-db.js";
import { Db } from "./pg-db.js";

export interface AdminDatabaseOptions {
  /** Everything lives in this schema (DATABASE_SCHEMA); a lower-case SQL identifier. */
  readonly schema: string;
  /** Background failures (an idle client dropped, the LISTEN connection lost); it recovers. */
  readonly onError?: (err: unknown) => void;
  /** Apply pending migrations before returning (default true; the role then needs DDL rights). */
  readonly migrate?: boolean;
  /** AUDIT_CHAIN_KEY_FILE's keys: every append is sealed, and verification checks the seals. */
  readonly chainKeys?: ChainKeys;
  /**
   * An append refused because the database handed back a row, or a chain before it, that
   * Floodgate did not write (a tampered trigger or log); the change is not made. Log it as an error.
   */
  readonly onAppendRefused?: (refusal: AppendRefusal) => void;
}

/**
 * Overrides and the audit log on one database. The two share its pool, so that an override change
 * and its audit row commit in one transaction. Every database failure rejects with
 * FloodgateError UNAVAILABLE and changes nothing.
 */
export interface AdminDatabase {
  readonly overrides: OverrideRepository;
  readonly auditLog: AuditLog;
  /** Applies pending migrations, on a connection of its own (migrateDatabase). */
  migrate(): Promise<MigrateResult>;
  /** Ends the change subscriptions, then the pool. */
  close(): Promise<void>;
}

/** On a database that is already running: Postgres, or PGlite with the connection it asked for. */
export async function connectAdminDatabase(
  connection: DatabaseConnection,
  options: AdminDatabaseOptions,
): Promise<AdminDatabase> {
  const { connectionString, notifications } = connection;
  const { schema } = options;
  const onError = options.onError ?? (() => undefined);
  const migrate = () => migrateDatabase({ connectionString, schema });
  if (options.migrate ?? true) await migrate();
  const db = new Db({
    connectionString,
    schema,
    pool: connection.pool,
    chainKeys: options.chainKeys,
    onError,
    onAppendRefused: options.onAppendRefused,
  });
  const feed = new ChangeFeed({ notifications, connectionString, schema, secrets: db.secrets, onError });
  return {
    overrides: new PgOverrideRepository(db, feed),
    auditLog: new PgAuditLog(db),
    migrate,
    close: async () => {
      await feed.close();
      await db.close();
    },
  };
}

export interface OpenedAdminDatabase extends AdminDatabase {
  readonly source: DatabaseTarget["source"];
}

/**
 * The composition root's one call: the database that startDatabaseTarget picks (Postgres with
 * DATABASE_URL, else embedded PGlite, started here), connected. close() also stops PGlite.
 */
export async function openAdminDatabase(
  settings: DatabaseSettings,
  options: Omit<AdminDatabaseOptions, "schema"> & { onEmbeddedStart?: (dataDir: string) => void } = {},
): Promise<OpenedAdminDatabase> {
  const { onEmbeddedStart, ...rest } = options;
  const target = await startDatabaseTarget(settings, { onEmbeddedStart });
  let database: AdminDatabase;
  try {
    database = await connectAdminDatabase(target.connection, { ...rest, schema: settings.databaseSchema });
  } catch (error) {
    await target.stop().catch(() => undefined);
    throw error;
  }
  return {
    ...database,
    source: target.source,
    close: async () => {
      await database.close();
      await target.stop();
    },
  };
}
