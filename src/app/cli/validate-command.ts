import { countRules } from "../../domain/rule-count.js";
import type { RuleSet } from "../../domain/rules.js";
import { formatIssue, isRulesError, loadRules } from "../../config/rules-loader.js";

/**
 * `floodgate config validate PATH`: loads the rules exactly as the server would and reports either
 * a summary (domains, rule counts, digest) or every issue, one per line as `file:line: path: message`.
 */
export async function validateRulesPath(path: string): Promise<{ ok: boolean; report: string }> {
  try {
    return { ok: true, report: summarize(path, await loadRules(path)) };
  } catch (error) {
    if (isRulesError(error)) {
      const header = `${path}: ${plural(error.errors.length, "error")}`;
      return { ok: false, report: [header, ...error.errors.map(formatIssue)].join("\n") };
    }
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, report: `${path}: ${message}` };
  }
}

function summarize(path: string, rules: RuleSet): string {
  const totals = `${plural(rules.domains.size, "domain")}, ${plural(rules.ruleCount, "rule")}`;
  const lines = [`${path}: OK, ${totals} (digest ${rules.digest.slice(0, 12)})`];
  const domains = [...rules.domains.values()].sort((a, b) => (a.domain < b.domain ? -1 : 1));
  for (const domain of domains) {
    lines.push(`  ${domain.domain}: ${plural(countRules(domain.root), "rule")} (${domain.source})`);
  }
  return lines.join("\n");
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}
