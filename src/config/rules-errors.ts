/** One problem found in a rules file. `path` is the YAML path, e.g. `descriptors[0].rate_limit.unit`. */
export interface RuleIssue {
  readonly file: string;
  /** The YAML path of the offending node; empty for the document itself or the file as a whole. */
  readonly path: string;
  readonly line?: number;
  readonly message: string;
}

/** `file:line: path: message`, leaving out the parts an issue does not have. */
export function formatIssue(issue: RuleIssue): string {
  const where = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}`;
  return issue.path === "" ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/**
 * Every issue from every file of one load. A load that finds any issue is rejected as a whole, so
 * the operator gets the full list at once instead of fixing one error per reload.
 */
export class RulesError extends Error {
  readonly errors: readonly RuleIssue[];

  constructor(errors: readonly RuleIssue[]) {
    const count = errors.length;
    const header = `invalid rate limit rules (${count} ${count === 1 ? "issue" : "issues"}):`;
    super([header, ...errors.map((issue) => `  ${formatIssue(issue)}`)].join("\n"));
    this.name = "RulesError";
    this.errors = Object.freeze([...errors]);
  }
}

export function isRulesError(value: unknown): value is RulesError {
  return value instanceof RulesError;
}
