import type { DomainRules, RuleSet } from "../domain/rules.js";

/** What a rules (re)load changed, for the audit log (actor `system`). */
export interface RulesChange {
  readonly digest: string;
  readonly ruleCount: number;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

export function summarizeRulesChange(previous: RuleSet | undefined, next: RuleSet): RulesChange {
  const before: ReadonlyMap<string, DomainRules> = previous?.domains ?? new Map<string, DomainRules>();
  const added: string[] = [];
  const changed: string[] = [];
  for (const [name, domain] of next.domains) {
    const old = before.get(name);
    if (old === undefined) added.push(name);
    else if (old.digest !== domain.digest) changed.push(name);
  }
  const removed = [...before.keys()].filter((name) => !next.domains.has(name));
  return {
    digest: next.digest,
    ruleCount: next.ruleCount,
    added: added.sort(),
    removed: removed.sort(),
    changed: changed.sort(),
  };
}
