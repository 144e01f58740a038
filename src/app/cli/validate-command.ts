import { countRules } from "../../domain/rule-count.js";
import type { RuleSet } from "../../domain/rules.js";
import { formatIssue, isRulesError, loadRules } from "../../config/rules-loader.js";
import type { LoadedRules, RulesLoadOptions } from "../../config/rules-loader.js";
import { parse, UsageError } from "./args.js";

export const VALIDATE_USAGE = "usage: floodgate config validate [--strict] [--merge-domain-config] PATH";

/**
 * `floodgate config validate [--strict] [--merge-domain-config] PATH`: prints the report, returns
 * the exit code (0 valid, 1 invalid, 2 usage).
 */
export async function configValidateCommand(args: string[]): Promise<number> {
  let invocation: ValidateInvocation;
  try {
    invocation = parseValidateArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`floodgate: ${error.message}\n${VALIDATE_USAGE}`);
    return 2;
  }
  const result = await validateRulesPath(invocation.path, invocation.options);
  (result.ok ? console.log : console.error)(result.report);
  return result.ok ? 0 : 1;
}

export interface ValidateInvocation {
  readonly path: string;
  readonly options: Required<RulesLoadOptions>;
}

/**
 * `--strict` refuses the keys the server only warns about; `--merge-domain-config` loads as
 * `MERGE_DOMAIN_CONFIG=true` does (the reference's `config_check_cmd -merge_domain_configs`).
 */
export function parseValidateArgs(args: string[]): ValidateInvocation {
  const { values, positionals } = parse(args, {
    strict: { type: "boolean" },
    "merge-domain-config": { type: "boolean" },
  });
  const [path, ...extra] = positionals;
  if (path === undefined) throw new UsageError("PATH is required");
  if (extra.length > 0) throw new UsageError(`one PATH only, got also ${extra.join(" ")}`);
  return {
    path,
    options: { strict: values["strict"] === true, mergeDomains: values["merge-domain-config"] === true },
  };
}

/**
 * Loads the rules exactly as the server would and reports either a summary (domains, rule counts,
 * digest) and the warnings, or every issue, one per line as `file:line: path: message`.
 */
export async function validateRulesPath(
  path: string,
  options: RulesLoadOptions = {},
): Promise<{ ok: boolean; report: string }> {
  try {
    return { ok: true, report: summarize(path, await loadRules(path, options)) };
  } catch (error) {
    if (isRulesError(error)) {
      const header = `${path}: ${plural(error.errors.length, "error")}`;
      return { ok: false, report: [header, ...error.errors.map(formatIssue)].join("\n") };
    }
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, report: `${path}: ${message}` };
  }
}

function summarize(path: string, { rules, warnings }: LoadedRules): string {
  const totals = `${plural(rules.domains.size, "domain")}, ${plural(rules.ruleCount, "rule")}`;
  const warned = warnings.length === 0 ? "" : `, ${plural(warnings.length, "warning")}`;
  const lines = [`${path}: OK, ${totals} (digest ${rules.digest.slice(0, 12)})${warned}`];
  lines.push(...domainLines(rules));
  lines.push(...warnings.map((warning) => `warning: ${formatIssue(warning)}`));
  return lines.join("\n");
}

function domainLines(rules: RuleSet): string[] {
  const domains = [...rules.domains.values()].sort((a, b) => (a.domain < b.domain ? -1 : 1));
  return domains.map(
    (domain) =>
      `  ${domain.domain}: ${plural(countRules(domain.root), "rule")} (${domain.sources.join(", ")})`,
  );
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}
