import type { PoolOptions } from "./pg-db.js";

/** What a store on embedded PGlite needs (see embedded.ts for why). */
export interface EmbeddedStoreOptions {
  readonly pool: PoolOptions;
  readonly notifications: "local";
}

export const EMBEDDED_STORE_OPTIONS: EmbeddedStoreOptions = Object.freeze({
  pool: Object.freeze({ max: 1, idleTimeoutMillis: 0 }),
  notifications: "local",
});

/**
 * Connection strings of the embedded servers running in this process. A separate module from
 * embedded.ts, so that the store can recognise one without loading PGlite.
 */
const running = new Set<string>();

export function registerEmbedded(connectionString: string): () => void {
  running.add(connectionString);
  return () => void running.delete(connectionString);
}

/** The options a store must use on `connectionString` if it is embedded PGlite, else nothing. */
export function embeddedStoreOptions(connectionString: string): Partial<EmbeddedStoreOptions> {
  return running.has(connectionString) ? EMBEDDED_STORE_OPTIONS : {};
}
