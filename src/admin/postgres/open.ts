import type { Settings } from "../../config/settings.js";
import { createPgAuditStore } from "./pg-audit-store.js";
import type { AuditStore } from "../types.js";

export interface OpenedAuditStore {
  readonly store: AuditStore;
  /** "postgres" with DATABASE_URL, else "embedded" (PGlite in ADMIN_DATA_DIR). */
  readonly source: "postgres" | "embedded";
}

/**
 * The composition root's one call: Postgres when DATABASE_URL is set, else embedded PGlite.
 * Migrations run first. The store's close() also stops the embedded database.
 */
export async function openAuditStore(options: {
  settings: Pick<Settings, "databaseUrl" | "databaseSchema" | "adminDataDir">;
  onError?: (err: unknown) => void;
}): Promise<OpenedAuditStore> {
  const { settings, onError } = options;
  if (settings.databaseUrl !== undefined) {
    const store = await createPgAuditStore({
      connectionString: settings.databaseUrl,
      schema: settings.databaseSchema,
      onError,
    });
    return { store, source: "postgres" };
  }
  const { startEmbeddedPostgres } = await import("./embedded.js");
  const embedded = await startEmbeddedPostgres({ dataDir: settings.adminDataDir });
  let store: AuditStore;
  try {
    store = await createPgAuditStore({
      connectionString: embedded.connectionString,
      schema: settings.databaseSchema,
      ...embedded.storeOptions,
      onError,
    });
  } catch (error) {
    await embedded.stop().catch(() => undefined);
    throw error;
  }
  // The store is a class instance: wrap close() in place rather than spreading it into a copy.
  const closeStore = store.close.bind(store);
  store.close = async () => {
    await closeStore();
    await embedded.stop();
  };
  return { store, source: "embedded" };
}
