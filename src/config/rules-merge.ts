import type { DomainSource } from "./rules-build.js";
import type { RuleIssue } from "./rules-errors.js";
import { digestFiles } from "./rules-files.js";
import type { RulesFile } from "./rules-files.js";
import { compositeKey } from "./rules-schema.js";
import type { RawDescriptor, RawDomain } from "./rules-schema.js";

/** One file that validated, with its document. */
export interface ParsedFile {
  readonly file: RulesFile;
  readonly raw: RawDomain;
}

/**
 * Groups the files by domain. Without `merge`, a domain may appear in one file only. With it
 * (MERGE_DOMAIN_CONFIG, as in the reference server), the top-level descriptors of every file
 * that names the domain are put together in load order (file name order): nested levels are
 * never merged, and a top-level descriptor that two files both define is an error, as it is
 * within one file.
 */
export function groupByDomain(
  parsed: readonly ParsedFile[],
  merge: boolean,
): { domains: DomainSource[]; issues: RuleIssue[] } {
  const groups = new Map<string, DomainGroup>();
  const issues: RuleIssue[] = [];
  for (const { file, raw } of parsed) {
    const group = groups.get(raw.domain);
    if (group === undefined) {
      groups.set(raw.domain, new DomainGroup(raw.domain).add(file, raw.descriptors));
    } else if (merge) {
      issues.push(...group.clashes(file, raw.descriptors));
      group.add(file, raw.descriptors);
    } else {
      const owner = group.files[0]?.path ?? "";
      const message = `duplicate domain '${raw.domain}': also defined in ${owner} (one domain per file unless MERGE_DOMAIN_CONFIG=true)`;
      issues.push({ file: file.path, path: "domain", line: raw.line, message });
    }
  }
  return { domains: [...groups.values()].map((group) => group.source()), issues };
}

class DomainGroup {
  readonly files: RulesFile[] = [];
  private readonly descriptors: RawDescriptor[] = [];
  /** Composite key of each top-level descriptor → where it was first defined (`file:line`). */
  private readonly defined = new Map<string, string>();

  constructor(private readonly domain: string) {}

  add(file: RulesFile, descriptors: readonly RawDescriptor[]): this {
    this.files.push(file);
    for (const descriptor of descriptors) {
      const key = compositeKey(this.domain, descriptor);
      if (this.defined.has(key)) continue;
      const line = descriptor.where.line;
      this.defined.set(key, line === undefined ? file.path : `${file.path}:${line}`);
      this.descriptors.push(descriptor);
    }
    return this;
  }

  clashes(file: RulesFile, descriptors: readonly RawDescriptor[]): RuleIssue[] {
    const issues: RuleIssue[] = [];
    for (const descriptor of descriptors) {
      const key = compositeKey(this.domain, descriptor);
      const first = this.defined.get(key);
      if (first === undefined) continue;
      const { path, line } = descriptor.where;
      const message = `duplicate descriptor composite key '${key}' (first defined at ${first})`;
      issues.push({ file: file.path, path, line, message });
    }
    return issues;
  }

  source(): DomainSource {
    return {
      domain: this.domain,
      descriptors: this.descriptors,
      paths: this.files.map((file) => file.path),
      digest: digestFiles(this.files),
    };
  }
}
