import type { Unit } from "./units.js";

// The immutable rule tree built from the reference server's YAML (README, "Rules"). A RuleSet is
// built once per (re)load and swapped as one reference; nothing in it is ever mutated.

/**
 * The largest requests_per_unit and burst, in the rules and in an operator's override: they are
 * uint32 fields on the wire (Envoy's RateLimit, floodgate.v1.Limit), as is a reported remaining.
 */
export const UINT32_MAX = 4_294_967_295;

export interface RateLimitRule {
  /** The `name` of the rate_limit block, if any (shown to Envoy and used by `replaces`). */
  readonly name: string | undefined;
  readonly unit: Unit;
  readonly requestsPerUnit: number;
  /** Floodgate's addition: the bucket capacity C; undefined means requestsPerUnit. */
  readonly burst: number | undefined;
  readonly unlimited: boolean;
  /** Names of other limits this one replaces when both match in one request. */
  readonly replaces: readonly string[];
}

export interface DescriptorNode {
  readonly key: string;
  /** undefined for a key-only (default) node; may contain `*` wildcards. */
  readonly value: string | undefined;
  readonly rateLimit: RateLimitRule | undefined;
  readonly shadowMode: boolean;
  /** With a wildcard value: all matching values share one bucket keyed by the pattern. */
  readonly shareThreshold: boolean;
  readonly children: DescriptorLevel;
}

/** One level of the tree, pre-indexed for the reference server's lookup order. */
export interface DescriptorLevel {
  /** Exact `key` + `value` nodes, indexed by key then value. */
  readonly exact: ReadonlyMap<string, ReadonlyMap<string, DescriptorNode>>;
  /** Wildcard nodes per key, in file order, each with its compiled matcher. */
  readonly wildcards: ReadonlyMap<string, readonly WildcardNode[]>;
  /** Key-only nodes, indexed by key. */
  readonly defaults: ReadonlyMap<string, DescriptorNode>;
}

export interface WildcardNode {
  readonly node: DescriptorNode;
  readonly matches: (value: string) => boolean;
}

export interface DomainRules {
  readonly domain: string;
  /** The files the domain came from, in load order: one, unless MERGE_DOMAIN_CONFIG merged several. */
  readonly sources: readonly string[];
  /** sha256 (hex) over those files' names and bytes: tells which domains a reload changed. */
  readonly digest: string;
  readonly root: DescriptorLevel;
}

export interface RuleSet {
  readonly domains: ReadonlyMap<string, DomainRules>;
  /** sha256 over the loaded files' names and bytes, hex. */
  readonly digest: string;
  /** Number of rate_limit blocks across all domains. */
  readonly ruleCount: number;
}

export interface DescriptorEntry {
  readonly key: string;
  readonly value: string;
}

/** What matching one request descriptor against a domain found. */
export interface RuleMatch {
  /** The node reached by the last entry; its rateLimit may be undefined (allowed, no limit). */
  readonly node: DescriptorNode;
  /**
   * The entries that name the bucket: the request's values, except that a node with
   * shareThreshold contributes its pattern instead of the request value.
   */
  readonly bucketEntries: readonly DescriptorEntry[];
}
