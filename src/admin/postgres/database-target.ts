import type { Settings } from "../../config/settings.js";
import type { DatabaseConnection } from "./pg-db.js";

/** What decides where overrides and the audit log live. */
export type DatabaseSettings = Pick<Settings, "databaseUrl" | "databaseSchema" | "adminDataDir">;

/** Postgres at DATABASE_URL, or embedded PGlite in ADMIN_DATA_DIR. */
export type DatabaseChoice =
  | { readonly source: "postgres"; readonly url: string }
  | { readonly source: "embedded"; readonly dataDir: string };

/** The database that holds overrides and the audit log, running and ready for connections. */
export interface DatabaseTarget {
  readonly source: DatabaseChoice["source"];
  readonly connection: DatabaseConnection;
  /** Stops embedded PGlite (nothing to do for Postgres); call it after closing what uses it. */
  stop(): Promise<void>;
}

/** Postgres when DATABASE_URL is set, else embedded PGlite (docs/audit-log.md, "Embedded mode"). */
export function chooseDatabase(settings: Omit<DatabaseSettings, "databaseSchema">): DatabaseChoice {
  return settings.databaseUrl === undefined
    ? { source: "embedded", dataDir: settings.adminDataDir }
    : { source: "postgres", url: settings.databaseUrl };
}

/**
 * The one place that picks the database (chooseDatabase) and, in embedded mode, starts PGlite,
 * which says how it must be connected to (embedded.ts). `serve`, `floodgate migrate` and the tests
 * all come through here. PGlite is loaded only when it is used.
 */
export async function startDatabaseTarget(
  settings: Omit<DatabaseSettings, "databaseSchema">,
  hooks: { onEmbeddedStart?: (dataDir: string) => void } = {},
): Promise<DatabaseTarget> {
  const choice = chooseDatabase(settings);
  if (choice.source === "postgres") {
    const connection: DatabaseConnection = { connectionString: choice.url, notifications: "listen" };
    return { source: "postgres", connection, stop: () => Promise.resolve() };
  }
  hooks.onEmbeddedStart?.(choice.dataDir);
  const { startEmbeddedPostgres } = await import("./embedded.js");
  const embedded = await startEmbeddedPostgres({ dataDir: choice.dataDir });
  return { source: "embedded", connection: embedded.connection, stop: () => embedded.stop() };
}
