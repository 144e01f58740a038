import type { OpenedAdminDatabase } from "../admin/postgres/admin-database.js";
import { openAdminDatabase } from "../admin/postgres/admin-database.js";
import type { ChainKeys } from "../admin/postgres/chain-key.js";
import { loadChainKeys } from "../admin/postgres/chain-key.js";
import type { AppendRefusal } from "../admin/postgres/pg-db.js";
import { isFloodgateError } from "../domain/errors.js";
import { startOverrideSync } from "../admin/override-sync.js";
import type { AuditLog } from "../admin/ports.js";
import { createAuthenticator } from "../admin/auth/authenticator.js";
import type { Authenticator } from "../admin/auth/types.js";
import type { RulesHolder } from "../config/rules-holder.js";
import type { Settings } from "../config/settings.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { AdminService } from "../admin/admin-service.js";
import { createAdminService } from "../admin/admin-service.js";
import { OverrideTable } from "../admin/override-table.js";
import type { BucketStore } from "../store/bucket-store.js";
import type { ReloadAudit } from "../admin/rules-audit.js";
import { createReloadAudit } from "../admin/rules-audit.js";

/** Everything the admin API needs, started only when an admin key source is configured. */
export interface AdminHandle {
  readonly admin: AdminService;
  readonly authenticator: Authenticator;
  /** Rules loads' audit rows, kept and retried while the database is unreachable. */
  readonly rulesAudit: ReloadAudit;
  readonly overrides: OverrideTable;
  /** For /readyz (it never makes the service unready): the state only; the reason is logged. */
  readonly status: () => "ok" | "degraded";
  close(): Promise<void>;
}

export interface AdminDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly rules: RulesHolder;
  readonly store: Pick<BucketStore, "peek" | "reset">;
}

/** How often startup migrations are retried while Postgres is unreachable. */
const MIGRATE_RETRY_MS = 5000;

function reasonOf(err: unknown): string {
  if (isFloodgateError(err)) return err.detail ?? err.message;
  return err instanceof Error ? err.message : String(err);
}

/** What deserves a line at startup: first-use sealing, a missing key, a role that can rewrite the log. */
async function checkChain(auditLog: AuditLog, options: { logger: Logger; embedded: boolean }): Promise<void> {
  const { logger } = options;
  const report = await auditLog.prepareChain();
  if (report.adopted !== undefined)
    logger.warn(
      { throughId: report.adopted },
      "audit chain key: sealed the existing audit log on first use; its rows are trusted as they are now",
    );
  if (report.unsealedFrom !== undefined)
    logger.error(
      { fromId: report.unsealedFrom },
      "audit log rows after the last seal are not sealed (a replica without AUDIT_CHAIN_KEY_FILE, or seals removed): verification reports them",
    );
  if (report.sealedWithoutKey)
    logger.warn(
      "the audit log is sealed but AUDIT_CHAIN_KEY_FILE is not set here: rows this replica writes are not sealed, and verification reports them",
    );
  // Embedded PGlite always runs as a superuser (docs/audit-log.md, "Embedded mode").
  if (!options.embedded && report.rewriteRisks.length > 0)
    logger.warn(
      { risks: report.rewriteRisks },
      "the database role can rewrite the audit log behind Floodgate's back: run serve as a role that owns nothing (docs/audit-log.md, Roles)",
    );
}

/**
 * Postgres may be down when a replica starts; rate limiting must not wait for it. Failed
 * migrations (and the chain check after them) are retried in the background, and admin calls
 * answer UNAVAILABLE until they succeed.
 */
async function migrateOrRetry(database: OpenedAdminDatabase, logger: Logger): Promise<{ stop(): void }> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const migrateAndCheck = async (): Promise<void> => {
    const result = await database.migrate();
    logger.info({ applied: result.applied, version: result.version }, "database migrations done");
    await checkChain(database.auditLog, { logger, embedded: false });
  };
  const attempt = (): Promise<void> =>
    migrateAndCheck().catch((err: unknown) => {
      if (stopped) return;
      logger.error(
        { reason: reasonOf(err) },
        "database not ready (migrations or the audit chain check failed); retrying, admin calls are unavailable meanwhile",
      );
      timer = setTimeout(() => void attempt(), MIGRATE_RETRY_MS).unref();
    });
  // The first attempt is awaited (a healthy start serves admin calls at once); retries are not.
  await attempt();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * Postgres or embedded PGlite (openAdminDatabase decides). Embedded, in this process, must migrate
 * now or the start fails; Postgres may be down and is migrated in the background (migrateOrRetry).
 */
async function openDatabase(
  settings: Settings,
  options: { logger: Logger; metrics: Metrics; chainKeys: ChainKeys | undefined },
): Promise<{ database: OpenedAdminDatabase; stopMigrations: () => void }> {
  const { logger, chainKeys } = options;
  const onError = (err: unknown) => logger.warn({ reason: reasonOf(err) }, "audit store connection problem");
  const onAppendRefused = (refusal: AppendRefusal) => {
    options.metrics.auditAppendRefused.inc();
    logger.error(
      refusal,
      "audit append refused: the database handed back a row, or a chain before it, that Floodgate did not write; the change was not made (docs/audit-log.md, Seals)",
    );
  };
  const onEmbeddedStart = (dataDir: string) =>
    logger.info(
      { dataDir },
      "DATABASE_URL is not set: overrides and audit log use embedded Postgres (PGlite)",
    );
  const database = await openAdminDatabase(settings, {
    migrate: false,
    onError,
    onAppendRefused,
    onEmbeddedStart,
    ...(chainKeys === undefined ? {} : { chainKeys }),
  });
  if (database.source === "postgres") {
    const migrations = await migrateOrRetry(database, logger);
    return { database, stopMigrations: () => migrations.stop() };
  }
  try {
    await database.migrate();
    await checkChain(database.auditLog, { logger, embedded: true });
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
  return { database, stopMigrations: () => undefined };
}

/** The chain key is read once, before anything opens: a bad file stops the start, naming the variable. */
async function chainKeysOf(settings: Settings, logger: Logger): Promise<ChainKeys | undefined> {
  if (settings.auditChainKeyFile === undefined) return undefined;
  if (settings.admin === undefined) {
    logger.warn("AUDIT_CHAIN_KEY_FILE is set but the admin API is off: there is no audit log to seal");
    return undefined;
  }
  return loadChainKeys(settings.auditChainKeyFile);
}

export async function startAdmin(settings: Settings, deps: AdminDeps): Promise<AdminHandle | undefined> {
  const { logger, metrics } = deps;
  const chainKeys = await chainKeysOf(settings, logger);
  if (settings.admin === undefined) return undefined;
  const authenticator = await createAuthenticator(settings.admin, {
    // At most one per backoff wait; while the last keys still serve, these are the only signs.
    onJwksFetchError: (failure) => {
      metrics.jwksFetchFailures.inc();
      logger.warn(failure, "ADMIN_JWKS_URL fetch failed; backing off");
    },
  });
  const { database, stopMigrations } = await openDatabase(settings, { logger, metrics, chainKeys });
  const { auditLog } = database;
  const rulesAudit = createReloadAudit({ auditLog, logger, metrics });
  const overrides = new OverrideTable();
  let lastError = "";
  const sync = await startOverrideSync({
    repository: database.overrides,
    apply: (records) => {
      overrides.replace(records);
      lastError = "";
    },
    resyncMs: settings.overrideResyncMs,
    onError: (err) => {
      const reason = reasonOf(err);
      if (lastError === "") logger.error({ reason }, "override sync failed; keeping the last overrides");
      lastError = reason;
    },
  });
  const admin = createAdminService({
    overrideRepository: database.overrides,
    auditLog,
    store: deps.store,
    rules: deps.rules,
    overrides,
    checkLimitDomain: settings.checkLimitDomain,
    now: Date.now,
    onAudit: (action) => metrics.auditEvents.inc({ action }),
  });
  return {
    admin,
    authenticator,
    rulesAudit,
    overrides,
    status: () => (lastError === "" ? "ok" : "degraded"),
    close: async () => {
      await rulesAudit.close();
      await sync.stop();
      stopMigrations();
      await database.close();
    },
  };
}
