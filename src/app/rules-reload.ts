import type { ReloadAudit } from "../admin/rules-audit.js";
import type { RulesHolder } from "../config/rules-holder.js";
import { formatIssue } from "../config/rules-loader.js";
import type { RuleIssue } from "../config/rules-loader.js";
import type { RulesWatcher } from "../config/rules-watcher.js";
import { watchRules } from "../config/rules-watcher.js";
import type { Settings } from "../config/settings.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";

export interface RulesReloadDeps {
  readonly rules: RulesHolder;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The audit rows of rules loads, when the admin API is on. */
  readonly rulesAudit: ReloadAudit | undefined;
}

/**
 * The rules reload policy. Rules loads are limit changes too: the load in force at startup and
 * every reload are audited as `system`, kept and retried until written (docs/audit-log.md, "Rules
 * reloads"). Hot reload: a good change swaps the rules; a bad one is counted and logged, and the
 * old rules stay in force.
 */
export function startRulesReload(
  settings: Pick<Settings, "rulesPath" | "mergeDomainConfig">,
  deps: RulesReloadDeps,
): RulesWatcher {
  const { rules, metrics, logger, rulesAudit } = deps;
  rulesAudit?.record({ previous: undefined, next: rules.current() });
  return watchRules({
    path: settings.rulesPath,
    load: { mergeDomains: settings.mergeDomainConfig },
    initialDigest: rules.current().digest,
    onReload: (next, warnings) => {
      logRulesWarnings(logger, warnings);
      // Swapped whether or not admin is on: a `?.` call would skip evaluating its arguments.
      const previous = rules.swap(next);
      rulesAudit?.record({ previous, next });
      metrics.configReloads.inc({ result: "success" });
      metrics.rulesLoaded.set(next.ruleCount);
      logger.info(
        { domains: [...next.domains.keys()], rules: next.ruleCount, digest: next.digest },
        "rules reloaded",
      );
    },
    onError: (err) => {
      metrics.configReloads.inc({ result: "error" });
      logger.error(
        { err: err instanceof Error ? err.message : String(err) },
        "rules reload failed; previous rules stay in force",
      );
    },
  });
}

/** A rules file loads, but something in it has no effect: one warn line per key, at each (re)load. */
export function logRulesWarnings(logger: Logger, warnings: readonly RuleIssue[]): void {
  for (const warning of warnings) {
    logger.warn({ file: warning.file, line: warning.line, path: warning.path }, formatIssue(warning));
  }
}
