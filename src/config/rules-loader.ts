import { createHash } from "node:crypto";
import type { DomainRules, RuleSet } from "../domain/rules.js";
import { countRules } from "../domain/rule-count.js";
import { buildDomain } from "./rules-build.js";
import { RulesError } from "./rules-errors.js";
import type { RuleIssue } from "./rules-errors.js";
import { digestFiles, readRulesFiles } from "./rules-files.js";
import type { RulesFile } from "./rules-files.js";
import { validateDocument } from "./rules-schema.js";
import type { RawDomain } from "./rules-schema.js";
import { parseYaml } from "./rules-yaml.js";

export { RulesError, formatIssue, isRulesError } from "./rules-errors.js";
export type { RuleIssue } from "./rules-errors.js";

/**
 * Loads RULES_PATH (a file, or a directory of `*.yaml`/`*.yml`) into one immutable RuleSet.
 * One domain per file. Every issue of every file is collected; any issue rejects the whole load
 * with a RulesError, so a caller (the watcher) keeps its previous RuleSet.
 */
export async function loadRules(path: string): Promise<RuleSet> {
  return buildRuleSet(await readRulesFiles(path));
}

/** Builds a RuleSet from files already read (sorted by name). Throws RulesError. */
export function buildRuleSet(files: readonly RulesFile[]): RuleSet {
  const issues: RuleIssue[] = [];
  const parsed: { file: RulesFile; raw: RawDomain }[] = [];
  const owners = new Map<string, string>();
  for (const file of files) {
    const result = parseFile(file);
    issues.push(...result.issues);
    if (result.raw === undefined || result.raw.domain === "") continue;
    const owner = owners.get(result.raw.domain);
    if (owner !== undefined) {
      const message = `duplicate domain '${result.raw.domain}': also defined in ${owner} (one domain per file)`;
      issues.push({ file: file.path, path: "domain", line: result.raw.line, message });
      continue;
    }
    owners.set(result.raw.domain, file.path);
    parsed.push({ file, raw: result.raw });
  }
  if (issues.length > 0) throw new RulesError(issues);
  const domains = new Map<string, DomainRules>();
  let ruleCount = 0;
  for (const { file, raw } of parsed) {
    const domain = buildDomain(raw, { path: file.path, digest: sha256(file.bytes) });
    domains.set(raw.domain, domain);
    ruleCount += countRules(domain.root);
  }
  return Object.freeze({ domains, digest: digestFiles(files), ruleCount });
}

/** Parses and validates one document; for unit tests and tools. Throws RulesError. */
export function loadRulesFromText(file: string, text: string): DomainRules {
  const { raw, issues } = parseRulesText(file, text);
  if (issues.length > 0 || raw === undefined) {
    throw new RulesError(issues.length > 0 ? issues : [{ file, path: "", message: "no rules document" }]);
  }
  return buildDomain(raw, { path: file, digest: sha256(Buffer.from(text)) });
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function parseRulesText(file: string, text: string): { raw: RawDomain | undefined; issues: RuleIssue[] } {
  const { ctx, syntaxOk } = parseYaml(file, text);
  // After a syntax error the tree is partial; walking it would only add misleading issues.
  const raw = syntaxOk ? validateDocument(ctx) : undefined;
  // Document order reads best; the sort is stable, so issues on one line keep their order.
  const issues = ctx.issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return { raw, issues };
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function parseFile(file: RulesFile): { raw: RawDomain | undefined; issues: RuleIssue[] } {
  let text: string;
  try {
    text = UTF8.decode(file.bytes);
  } catch {
    return {
      raw: undefined,
      issues: [{ file: file.path, path: "", message: "the file is not valid UTF-8" }],
    };
  }
  return parseRulesText(file.path, text);
}
