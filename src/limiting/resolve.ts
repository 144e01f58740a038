import { matchDescriptor } from "../domain/rule-match.js";
import type { DescriptorEntry, DomainRules, RateLimitRule, RuleSet } from "../domain/rules.js";
import type { LimitRequest, LimitSpec, RequestDescriptor } from "./types.js";

/**
 * Where a resolved limit comes from (README, "Rules": "Where a limit comes from"), in precedence order:
 * an operator's override for the exact descriptor, then Envoy's descriptor `limit` on the request,
 * then the rules.
 */
export type LimitSource = "operator" | "descriptor" | "rules";

/** The limit that applies to one request descriptor, and the bucket it is counted in. */
export interface ResolvedLimit {
  readonly source: LimitSource;
  /** For an operator's or a descriptor's limit, `name` is undefined: no rule can `replace` it by name. */
  readonly rule: RateLimitRule;
  readonly shadow: boolean;
  readonly bucketEntries: readonly DescriptorEntry[];
  /**
   * Set when the source is "descriptor": the bucket is keyed by that limit too, so a caller's
   * descriptor `limit` never shares state with the bucket the rules or an operator decide.
   */
  readonly descriptorLimit: LimitSpec | undefined;
}

/** The operators' overrides as resolution reads them (the admin half keeps the table). */
export interface OperatorLimits {
  /** The limit an operator set for exactly these entries, if it applies at `nowMs`. */
  lookup(domain: string, entries: readonly DescriptorEntry[], nowMs: number): RateLimitRule | undefined;
  /** Cheap test that lets a domain with no overrides skip the lookups. */
  hasDomain(domain: string): boolean;
}

/** What resolution reads: the rules snapshot, and optionally the operators' overrides. */
export interface LimitSources {
  readonly rules: RuleSet;
  readonly operatorLimits?: OperatorLimits | undefined;
  /** Wall-clock ms, for override expiry. */
  readonly nowMs: number;
  /** Honour descriptor `limit`s (DESCRIPTOR_LIMIT_OVERRIDES); false: the rules decide. */
  readonly descriptorLimits?: boolean | undefined;
}

function fromDescriptor(descriptor: RequestDescriptor): ResolvedLimit | undefined {
  const limit = descriptor.descriptorLimit;
  if (limit === undefined) return undefined;
  const rule: RateLimitRule = {
    name: undefined,
    unit: limit.unit,
    requestsPerUnit: limit.requestsPerUnit,
    burst: undefined,
    unlimited: false,
    replaces: [],
  };
  // As in the reference server, a descriptor `limit` is never shadowed and counts per full descriptor.
  return {
    source: "descriptor",
    rule,
    shadow: false,
    bucketEntries: descriptor.entries,
    descriptorLimit: limit,
  };
}

function fromOperator(
  sources: LimitSources,
  domain: string,
  descriptor: RequestDescriptor,
): ResolvedLimit | undefined {
  const rule = sources.operatorLimits?.lookup(domain, descriptor.entries, sources.nowMs);
  if (rule === undefined) return undefined;
  return {
    source: "operator",
    rule,
    shadow: false,
    bucketEntries: descriptor.entries,
    descriptorLimit: undefined,
  };
}

function fromRules(domain: DomainRules, descriptor: RequestDescriptor): ResolvedLimit | undefined {
  const match = matchDescriptor(domain, descriptor.entries);
  const rule = match?.node.rateLimit;
  if (match === undefined || rule === undefined) return undefined;
  const { shadowMode: shadow } = match.node;
  return { source: "rules", rule, shadow, bucketEntries: match.bucketEntries, descriptorLimit: undefined };
}

/**
 * Descriptors → limits, in request order (undefined where no limit applies). An operator override
 * for the exact descriptor wins over everything, in any domain. Otherwise this follows the
 * reference server: an unknown domain matches nothing, even for a descriptor with a `limit`; a
 * rule whose name another matched rule `replaces` is dropped. With `descriptorLimits` false, a
 * descriptor `limit` is ignored and the rules decide.
 */
export function resolveLimits(sources: LimitSources, request: LimitRequest): (ResolvedLimit | undefined)[] {
  const domain = sources.rules.domains.get(request.domain);
  const operatorLimits = sources.operatorLimits?.hasDomain(request.domain) === true;
  const honourDescriptor = sources.descriptorLimits ?? true;
  if (domain === undefined && !operatorLimits) return request.descriptors.map(() => undefined);
  const resolved = request.descriptors.map((descriptor): ResolvedLimit | undefined => {
    const operator = operatorLimits ? fromOperator(sources, request.domain, descriptor) : undefined;
    if (operator !== undefined) return operator;
    if (domain === undefined) return undefined;
    return (honourDescriptor ? fromDescriptor(descriptor) : undefined) ?? fromRules(domain, descriptor);
  });
  return applyReplaces(resolved);
}

/** `replaces` names rules: only a limit from the rules can replace or be replaced. */
function applyReplaces(resolved: (ResolvedLimit | undefined)[]): (ResolvedLimit | undefined)[] {
  let replaced: Set<string> | undefined;
  for (const limit of resolved) {
    if (limit?.source !== "rules") continue;
    for (const name of limit.rule.replaces) (replaced ??= new Set()).add(name);
  }
  if (replaced === undefined) return resolved;
  const names = replaced;
  return resolved.map((limit) =>
    limit?.source === "rules" && limit.rule.name !== undefined && names.has(limit.rule.name)
      ? undefined
      : limit,
  );
}
