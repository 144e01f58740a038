import type {
  DescriptorLevel,
  DescriptorNode,
  DomainRules,
  RateLimitRule,
  WildcardNode,
} from "../domain/rules.js";
import { compileWildcard, isWildcardPattern } from "../domain/wildcard.js";
import type { RawDescriptor, RawRule } from "./rules-schema.js";

/**
 * Turns a validated document into the immutable, pre-indexed tree that matching walks: per level,
 * exact values by key then value, wildcard nodes per key in file order with compiled matchers,
 * and key-only defaults by key. Built once per load; nothing in it is mutated afterwards.
 */

const EMPTY_LEVEL: DescriptorLevel = Object.freeze({
  exact: new Map<string, ReadonlyMap<string, DescriptorNode>>(),
  wildcards: new Map<string, readonly WildcardNode[]>(),
  defaults: new Map<string, DescriptorNode>(),
});

/** A domain's top-level descriptors, from one file or, merged, from several. */
export interface DomainSource {
  readonly domain: string;
  readonly descriptors: readonly RawDescriptor[];
  readonly paths: readonly string[];
  readonly digest: string;
}

export function buildDomain(source: DomainSource): DomainRules {
  return Object.freeze({
    domain: source.domain,
    sources: Object.freeze([...source.paths]),
    digest: source.digest,
    root: buildLevel(source.descriptors),
  });
}

function buildLevel(descriptors: readonly RawDescriptor[]): DescriptorLevel {
  if (descriptors.length === 0) return EMPTY_LEVEL;
  const exact = new Map<string, Map<string, DescriptorNode>>();
  const wildcards = new Map<string, WildcardNode[]>();
  const defaults = new Map<string, DescriptorNode>();
  for (const raw of descriptors) {
    const node = buildNode(raw);
    const value = raw.value;
    if (value === undefined) {
      defaults.set(raw.key, node);
    } else if (isWildcardPattern(value)) {
      const list = wildcards.get(raw.key) ?? [];
      list.push(Object.freeze({ node, matches: compileWildcard(value) }));
      wildcards.set(raw.key, list);
    } else {
      const byValue = exact.get(raw.key) ?? new Map<string, DescriptorNode>();
      byValue.set(value, node);
      exact.set(raw.key, byValue);
    }
  }
  for (const list of wildcards.values()) Object.freeze(list);
  return Object.freeze({ exact, wildcards, defaults });
}

function buildNode(raw: RawDescriptor): DescriptorNode {
  return Object.freeze({
    key: raw.key,
    value: raw.value,
    rateLimit: raw.rateLimit === undefined ? undefined : buildRule(raw.rateLimit),
    shadowMode: raw.shadowMode,
    shareThreshold: raw.shareThreshold,
    children: buildLevel(raw.children),
  });
}

function buildRule(raw: RawRule): RateLimitRule {
  return Object.freeze({
    name: raw.name,
    // An unlimited rule has no unit in the file; nothing reads it (no current_limit is reported).
    unit: raw.unit ?? "second",
    requestsPerUnit: raw.requestsPerUnit,
    burst: raw.burst,
    unlimited: raw.unlimited,
    replaces: Object.freeze([...raw.replaces]),
  });
}
