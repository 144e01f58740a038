import { embeddedStoreOptions } from "./embedded-registry.js";
import { migrateDatabase } from "./migrations.js";
import { listAuditEvents, recordBucketReset, recordRulesReload, verifyAuditLog } from "./pg-audit-log.js";
import type { PoolOptions } from "./pg-db.js";
import { Db } from "./pg-db.js";
import { listenForChanges } from "./pg-listen.js";
import {
  deleteOverride,
  expireOverrides,
  listOverrides,
  loadActiveOverrides,
  setOverride,
} from "./pg-overrides.js";
import type { AuditEvent, AuditStore, OverrideRecord, Page, VerifyResult } from "./types.js";

export interface PgAuditStoreOptions {
  readonly connectionString: string;
  /** Everything lives in this schema (DATABASE_SCHEMA); a lower-case SQL identifier. */
  readonly schema: string;
  readonly pool?: PoolOptions;
  /** Background failures (an idle client dropped, the LISTEN connection lost); the store recovers. */
  readonly onError?: (err: unknown) => void;
  /**
   * "listen" (default): LISTEN/NOTIFY on a dedicated connection, so every replica on this
   * Postgres hears every change. "local": listeners hear only this store's own commits, for
   * embedded PGlite, whose socket server cannot deliver a NOTIFY to another connection (a single
   * node is the only writer there, and the periodic resync covers the rest).
   */
  readonly notifications?: "listen" | "local";
  /** Apply pending migrations before returning (default true; the role then needs DDL rights). */
  readonly migrate?: boolean;
}

/** In-process change listeners (the "local" notification mode). */
class LocalListeners {
  private readonly listeners = new Set<() => void>();

  add(listener: () => void): () => Promise<void> {
    const own = (): void => listener(); // a distinct entry even if one function subscribes twice
    this.listeners.add(own);
    return () => Promise.resolve(void this.listeners.delete(own));
  }

  /** After commit, and never inside the caller's stack. */
  emit(): void {
    setImmediate(() => {
      for (const listener of this.listeners) listener();
    });
  }
}

/** The AuditStore on one pool; every method is one SQL module call. */
class PgAuditStore implements AuditStore {
  private readonly subscriptions = new Set<() => Promise<void>>();
  private readonly local: LocalListeners | undefined;

  constructor(
    private readonly db: Db,
    private readonly options: PgAuditStoreOptions & { onError: (err: unknown) => void },
  ) {
    this.local = options.notifications === "local" ? new LocalListeners() : undefined;
  }

  private get schema(): string {
    return this.options.schema;
  }

  /** Local mode: tell this process's listeners, after the commit. */
  private changed<T>(result: T, didChange: boolean): T {
    if (didChange) this.local?.emit();
    return result;
  }

  async setOverride(input: Parameters<AuditStore["setOverride"]>[0]): Promise<OverrideRecord> {
    return this.changed(await setOverride(this.db, { schema: this.schema, input }), true);
  }

  async deleteOverride(
    input: Parameters<AuditStore["deleteOverride"]>[0],
  ): Promise<OverrideRecord | undefined> {
    const deleted = await deleteOverride(this.db, { schema: this.schema, input });
    return this.changed(deleted, deleted !== undefined);
  }

  listOverrides(query: Parameters<AuditStore["listOverrides"]>[0]): Promise<Page<OverrideRecord>> {
    return listOverrides(this.db, query);
  }

  loadActiveOverrides(): Promise<OverrideRecord[]> {
    return loadActiveOverrides(this.db);
  }

  async expireOverrides(): Promise<OverrideRecord[]> {
    const expired = await expireOverrides(this.db, { schema: this.schema });
    return this.changed(expired, expired.length > 0);
  }

  recordBucketReset(input: Parameters<AuditStore["recordBucketReset"]>[0]): Promise<void> {
    return recordBucketReset(this.db, input);
  }

  recordRulesReload(input: { digest: string; summary: unknown }): Promise<boolean> {
    return recordRulesReload(this.db, input);
  }

  listAuditEvents(query: Parameters<AuditStore["listAuditEvents"]>[0]): Promise<Page<AuditEvent>> {
    return listAuditEvents(this.db, query);
  }

  verifyAuditLog(): Promise<VerifyResult> {
    return verifyAuditLog(this.db);
  }

  async onOverridesChanged(listener: () => void): Promise<() => Promise<void>> {
    const stop =
      this.local?.add(listener) ??
      (await listenForChanges({
        connectionString: this.options.connectionString,
        schema: this.schema,
        secrets: this.db.secrets,
        listener,
        onError: this.options.onError,
      }));
    const unsubscribe = async (): Promise<void> => {
      this.subscriptions.delete(unsubscribe);
      await stop();
    };
    this.subscriptions.add(unsubscribe);
    return unsubscribe;
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((unsubscribe) => unsubscribe()));
    await this.db.close();
  }
}

/**
 * The AuditStore on Postgres (or on embedded PGlite through its socket server: the same SQL).
 * Every database failure rejects with FloodgateError UNAVAILABLE and changes nothing.
 */
export async function createPgAuditStore(options: PgAuditStoreOptions): Promise<AuditStore> {
  // Embedded PGlite needs one connection and local notifications, whatever the caller passed.
  const settled = { ...options, ...embeddedStoreOptions(options.connectionString) };
  const onError = settled.onError ?? (() => undefined);
  const { connectionString, schema } = settled;
  if (settled.migrate ?? true) await migrateDatabase({ connectionString, schema });
  const db = new Db({ connectionString, schema, pool: settled.pool, onError });
  return new PgAuditStore(db, { ...settled, onError });
}
