import { createPgAuditStore } from "../audit/pg-audit-store.js";
import { startEmbeddedPostgres } from "../audit/embedded.js";
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
  /** "ok", or why the database is unusable (for /readyz; it never makes the service unready). */
  readonly status: () => string;
  close(): Promise<void>;
}

export interface AdminDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly rules: RulesHolder;
  readonly store: Pick<BucketStore, "peek" | "reset" | "kind">;
}

async function database(settings: Settings, logger: Logger) {
  if (settings.databaseUrl !== undefined)
    return { connectionString: settings.databaseUrl, stop: () => Promise.resolve() };
  logger.info(
    { dataDir: settings.adminDataDir },
    "DATABASE_URL is not set: overrides and audit log use embedded Postgres (PGlite)",
  );
  return startEmbeddedPostgres({ dataDir: settings.adminDataDir });
}

export async function startAdmin(settings: Settings, deps: AdminDeps): Promise<AdminHandle | undefined> {
  if (settings.admin === undefined) return undefined;
  const { logger, metrics } = deps;
  const authenticator = await createAuthenticator(settings.admin);
  const db = await database(settings, logger);
  const audit = await createPgAuditStore({
    connectionString: db.connectionString,
    schema: settings.databaseSchema,
  });
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
      const reason = err instanceof Error ? err.message : String(err);
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
    status: () => (lastError === "" ? "ok" : `degraded: ${lastError}`),
    close: async () => {
      await sync.stop();
      await audit.close();
      await db.stop();
    },
  };
}
