import { FloodgateError } from "../../domain/errors.js";
import type { ChainKeys } from "./chain-key.js";
import { embeddedStoreOptions } from "./embedded-registry.js";
import { migrateDatabase } from "./migrations.js";
import { listAuditEvents, recordRulesReload, resetBucket } from "./pg-audit-log.js";
import type { AppendRefusal, PoolOptions } from "./pg-db.js";
import { Db } from "./pg-db.js";
import { listenForChanges } from "./pg-listen.js";
import { prepareChain } from "./pg-seals.js";
import { verifyChain } from "./pg-verify.js";
import {
  deleteOverride,
  expireOverrides,
  listOverrides,
  loadActiveOverrides,
  setOverride,
} from "./pg-overrides.js";
import type {
  AuditEvent,
  AuditStore,
  ChainReport,
  OverrideRecord,
  Page,
  VerifyOptions,
  VerifyResult,
} from "../types.js";

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
  /** AUDIT_CHAIN_KEY_FILE's keys: every append is sealed, and verification checks the seals. */
  readonly chainKeys?: ChainKeys;
  /**
   * An append refused because the database handed back a row, or a chain before it, that
   * Floodgate did not write (a tampered trigger or log); the change is not made. Log it as an error.
   */
  readonly onAppendRefused?: (refusal: AppendRefusal) => void;
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
  private verifying = false;

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

  resetBucket(input: Parameters<AuditStore["resetBucket"]>[0], reset: () => Promise<void>): Promise<void> {
    return resetBucket(this.db, { input, reset });
  }

  recordRulesReload(input: { digest: string; summary: unknown }): Promise<boolean> {
    return recordRulesReload(this.db, input);
  }

  listAuditEvents(query: Parameters<AuditStore["listAuditEvents"]>[0]): Promise<Page<AuditEvent>> {
    return listAuditEvents(this.db, query);
  }

  /** One walk at a time: a second would double the load for the same answer. */
  async verifyAuditLog(options: VerifyOptions = {}): Promise<VerifyResult> {
    if (this.verifying) {
      throw new FloodgateError(
        "UNAVAILABLE",
        "an audit verification is already running on this replica; retry when it has finished",
      );
    }
    this.verifying = true;
    try {
      return await verifyChain(this.db, options);
    } finally {
      this.verifying = false;
    }
  }

  prepareChain(): Promise<ChainReport> {
    return prepareChain(this.db);
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
  const db = new Db({
    connectionString,
    schema,
    pool: settled.pool,
    chainKeys: settled.chainKeys,
    onError,
    onAppendRefused: settled.onAppendRefused,
  });
  return new PgAuditStore(db, { ...settled, onError });
}
