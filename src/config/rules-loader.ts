import type { DomainRules, RuleSet } from "../domain/rules.js";
import { countRules } from "../domain/rule-count.js";
import { buildDomain } from "./rules-build.js";
import { RulesError } from "./rules-errors.js";
import type { RuleIssue } from "./rules-errors.js";
import { digestFiles, readRulesFiles } from "./rules-files.js";
import type { RulesFile } from "./rules-files.js";
import { groupByDomain } from "./rules-merge.js";
import type { ParsedFile } from "./rules-merge.js";
import { validateDocument } from "./rules-schema.js";
import type { RawDomain } from "./rules-schema.js";
import { parseYaml } from "./rules-yaml.js";

export { RulesError, formatIssue, isRulesError } from "./rules-errors.js";
export type { RuleIssue } from "./rules-errors.js";

export interface RulesLoadOptions {
  /** Refuse the keys that would only be warned about (`config validate --strict`). */
  readonly strict?: boolean;
  /** MERGE_DOMAIN_CONFIG: files that name the same domain are merged (see rules-merge.ts). */
  readonly mergeDomains?: boolean;
}

/** A load that succeeded, and what in it deserves a look (keys that have no effect). */
export interface LoadedRules {
  readonly rules: RuleSet;
  readonly warnings: readonly RuleIssue[];
}

/**
 * Loads RULES_PATH (a file, or a directory of `*.yaml`/`*.yml`) into one immutable RuleSet.
 * One domain per file unless `mergeDomains`. Every issue of every file is collected; any issue
 * rejects the whole load with a RulesError, so a caller (the watcher) keeps its previous RuleSet.
 */
export async function loadRules(path: string, options: RulesLoadOptions = {}): Promise<LoadedRules> {
  return buildRuleSet(await readRulesFiles(path), options);
}

/** Builds a RuleSet from files already read (sorted by name). Throws RulesError. */
export function buildRuleSet(files: readonly RulesFile[], options: RulesLoadOptions = {}): LoadedRules {
  const issues: RuleIssue[] = [];
  const warnings: RuleIssue[] = [];
  const parsed: ParsedFile[] = [];
  for (const file of files) {
    const result = parseFile(file, options);
    issues.push(...result.issues);
    warnings.push(...result.warnings);
    if (result.raw !== undefined && result.raw.domain !== "") parsed.push({ file, raw: result.raw });
  }
  const grouped = groupByDomain(parsed, options.mergeDomains ?? false);
  issues.push(...grouped.issues);
  if (issues.length > 0) throw new RulesError(inFileOrder(issues, files));
  const domains = new Map<string, DomainRules>();
  let ruleCount = 0;
  for (const source of grouped.domains) {
    const domain = buildDomain(source);
    domains.set(source.domain, domain);
    ruleCount += countRules(domain.root);
  }
  const rules: RuleSet = Object.freeze({ domains, digest: digestFiles(files), ruleCount });
  return Object.freeze({ rules, warnings: Object.freeze(warnings) });
}

/** Each file's issues together, files in load order (stable: a file's own order is kept). */
function inFileOrder(issues: RuleIssue[], files: readonly RulesFile[]): RuleIssue[] {
  const order = new Map(files.map((file, index) => [file.path, index]));
  return issues.sort((a, b) => (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0));
}

interface ParsedText {
  readonly raw: RawDomain | undefined;
  readonly issues: RuleIssue[];
  readonly warnings: RuleIssue[];
}

function parseRulesText(file: string, text: string, options: RulesLoadOptions): ParsedText {
  const { ctx, syntaxOk } = parseYaml(file, text, { strict: options.strict ?? false });
  // After a syntax error the tree is partial; walking it would only add misleading issues.
  const raw = syntaxOk ? validateDocument(ctx) : undefined;
  // Document order reads best; the sort is stable, so issues on one line keep their order.
  const byLine = (a: RuleIssue, b: RuleIssue): number => (a.line ?? 0) - (b.line ?? 0);
  return { raw, issues: ctx.issues.sort(byLine), warnings: ctx.warnings.sort(byLine) };
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function parseFile(file: RulesFile, options: RulesLoadOptions): ParsedText {
  let text: string;
  try {
    text = UTF8.decode(file.bytes);
  } catch {
    const issue = { file: file.path, path: "", message: "the file is not valid UTF-8" };
    return { raw: undefined, issues: [issue], warnings: [] };
  }
  return parseRulesText(file.path, text, options);
}
