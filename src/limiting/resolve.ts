import { matchDescriptor } from "../domain/rule-match.js";
import type { DescriptorEntry, RateLimitRule, RuleSet } from "../domain/rules.js";
import type { OverrideTable } from "../admin/override-table.js";
import type { LimitRequest, LimitSpec, RequestDescriptor } from "./types.js";

/** The limit that applies to one request descriptor, and the bucket it is counted in. */
export interface ResolvedLimit {
  readonly rule: RateLimitRule;
  readonly shadow: boolean;
  readonly bucketEntries: readonly DescriptorEntry[];
  /**
   * Set when a descriptor `limit` override decides: the bucket is keyed by that limit too, so a
   * caller's override never shares state with the bucket the rules or an operator decide.
   */
  readonly keyLimit: LimitSpec | undefined;
}

function fromOverride(descriptor: RequestDescriptor): ResolvedLimit | undefined {
  const override = descriptor.limitOverride;
  if (override === undefined) return undefined;
  const rule: RateLimitRule = {
    name: override.name,
    unit: override.unit,
    requestsPerUnit: override.requestsPerUnit,
    burst: undefined,
    unlimited: false,
    replaces: [],
  };
  // As in the reference server, an Envoy override is never shadowed and counts per full descriptor.
  return { rule, shadow: false, bucketEntries: descriptor.entries, keyLimit: override };
}

/** What resolution reads: the rules snapshot, and optionally the operators' overrides. */
export interface LimitSources {
  readonly rules: RuleSet;
  readonly overrides?: OverrideTable;
  /** Wall-clock ms, for override expiry. */
  readonly nowMs: number;
  /** Honour descriptor `limit` overrides (DESCRIPTOR_LIMIT_OVERRIDES); false: the rules decide. */
  readonly descriptorLimitOverrides?: boolean;
}

function fromAdmin(
  sources: LimitSources,
  domain: string,
  descriptor: RequestDescriptor,
): ResolvedLimit | undefined {
  const rule = sources.overrides?.lookup(domain, descriptor.entries, sources.nowMs);
  return rule === undefined
    ? undefined
    : { rule, shadow: false, bucketEntries: descriptor.entries, keyLimit: undefined };
}

/**
 * Descriptors → limits, in request order (undefined where no limit applies). An operator override
 * for the exact descriptor wins over everything. Otherwise this follows the reference server: an
 * unknown domain matches nothing, even for a descriptor with a `limit` override; a limit whose name
 * another matched limit `replaces` is dropped. With `descriptorLimitOverrides` false, a descriptor
 * `limit` is ignored and the rules decide.
 */
export function resolveLimits(sources: LimitSources, request: LimitRequest): (ResolvedLimit | undefined)[] {
  const domain = sources.rules.domains.get(request.domain);
  const adminOverrides = sources.overrides?.hasDomain(request.domain) === true;
  const honourLimit = sources.descriptorLimitOverrides ?? true;
  if (domain === undefined && !adminOverrides) return request.descriptors.map(() => undefined);
  const resolved = request.descriptors.map((descriptor): ResolvedLimit | undefined => {
    if (adminOverrides) {
      const admin = fromAdmin(sources, request.domain, descriptor);
      if (admin !== undefined) return admin;
    }
    if (domain === undefined) return undefined;
    const overridden = honourLimit ? fromOverride(descriptor) : undefined;
    if (overridden !== undefined) return overridden;
    const match = matchDescriptor(domain, descriptor.entries);
    const rule = match?.node.rateLimit;
    if (match === undefined || rule === undefined) return undefined;
    return { rule, shadow: match.node.shadowMode, bucketEntries: match.bucketEntries, keyLimit: undefined };
  });
  return applyReplaces(resolved);
}

function applyReplaces(resolved: (ResolvedLimit | undefined)[]): (ResolvedLimit | undefined)[] {
  let replaced: Set<string> | undefined;
  for (const limit of resolved) {
    for (const name of limit?.rule.replaces ?? []) (replaced ??= new Set()).add(name);
  }
  if (replaced === undefined) return resolved;
  const names = replaced;
  return resolved.map((limit) =>
    limit?.rule.name !== undefined && names.has(limit.rule.name) ? undefined : limit,
  );
}
