import { createPgAuditStore } from "../audit/pg-audit-store.js";
import { startEmbeddedPostgres } from "../audit/embedded.js";
import { migrateDatabase } from "../audit/migrations.js";
import { isFloodgateError } from "../domain/errors.js";
import { startOverrideSync } from "../audit/override-sync.js";
import type { AuditStore } from "../audit/types.js";
import { createAuthenticator } from "../auth/authenticator.js";
import type { Authenticator } from "../auth/types.js";
import type { RulesHolder } from "../config/rules-holder.js";
import type { Settings } from "../config/settings.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { AdminService } from "../service/admin.js";
import { createAdminService } from "../service/admin.js";
import { OverrideTable } from "../service/override-table.js";
import type { BucketStore } from "../store/bucket-store.js";

/** Everything the admin API needs, started only when an admin key source is configured. */
export interface AdminHandle {
  readonly admin: AdminService;
  readonly authenticator: Authenticator;
  readonly audit: AuditStore;
  readonly overrides: OverrideTable;
  /** For /readyz (it never makes the service unready): the state only; the reason is logged. */
  readonly status: () => "ok" | "degraded";
  close(): Promise<void>;
}

export interface AdminDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly rules: RulesHolder;
  readonly store: Pick<BucketStore, "peek" | "reset" | "kind">;
}

/** How often startup migrations are retried while Postgres is unreachable. */
const MIGRATE_RETRY_MS = 5000;

function reasonOf(err: unknown): string {
  if (isFloodgateError(err)) return err.detail ?? err.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Postgres may be down when a replica starts; rate limiting must not wait for it. Failed migrations
 * are retried in the background and admin calls answer UNAVAILABLE until they succeed.
 */
async function migrateOrRetry(
  settings: Settings,
  logger: Logger,
  databaseUrl: string,
): Promise<{ stop(): void }> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const attempt = (): Promise<void> =>
    migrateDatabase({ connectionString: databaseUrl, schema: settings.databaseSchema }).then(
      (result) =>
        logger.info({ applied: result.applied, version: result.version }, "database migrations done"),
      (err: unknown) => {
        if (stopped) return;
        logger.error(
          { reason: reasonOf(err) },
          "database migrations failed; retrying (admin calls are unavailable meanwhile)",
        );
        timer = setTimeout(() => void attempt(), MIGRATE_RETRY_MS).unref();
      },
    );
  // The first attempt is awaited (a healthy start serves admin calls at once); retries are not.
  await attempt();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

async function openStore(settings: Settings, logger: Logger) {
  const onError = (err: unknown) => logger.warn({ reason: reasonOf(err) }, "audit store connection problem");
  const schema = settings.databaseSchema;
  if (settings.databaseUrl !== undefined) {
    const audit = await createPgAuditStore({
      connectionString: settings.databaseUrl,
      schema,
      migrate: false,
      onError,
    });
    const migrations = await migrateOrRetry(settings, logger, settings.databaseUrl);
    return { audit, stop: () => Promise.resolve(migrations.stop()) };
  }
  logger.info(
    { dataDir: settings.adminDataDir },
    "DATABASE_URL is not set: overrides and audit log use embedded Postgres (PGlite)",
  );
  const embedded = await startEmbeddedPostgres({ dataDir: settings.adminDataDir });
  const audit = await createPgAuditStore({
    connectionString: embedded.connectionString,
    schema,
    ...embedded.storeOptions,
    onError,
  });
  return { audit, stop: () => embedded.stop() };
}

export async function startAdmin(settings: Settings, deps: AdminDeps): Promise<AdminHandle | undefined> {
  if (settings.admin === undefined) return undefined;
  const { logger, metrics } = deps;
  const authenticator = await createAuthenticator(settings.admin, {
    // At most one line per backoff wait; while the last keys still serve, this is the only sign.
    onJwksFetchError: (failure) => logger.warn(failure, "ADMIN_JWKS_URL fetch failed; backing off"),
  });
  const { audit, stop: stopDatabase } = await openStore(settings, logger);
  const overrides = new OverrideTable();
  let lastError = "";
  const sync = await startOverrideSync({
    store: audit,
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
    audit,
    store: deps.store,
    rules: deps.rules,
    overrides,
    keyPrefix: settings.redisKeyPrefix,
    checkLimitDomain: settings.checkLimitDomain,
    now: Date.now,
    onAudit: (action) => metrics.auditEvents.inc({ action }),
  });
  return {
    admin,
    authenticator,
    audit,
    overrides,
    status: () => (lastError === "" ? "ok" : "degraded"),
    close: async () => {
      await sync.stop();
      await audit.close();
      await stopDatabase();
    },
  };
}
