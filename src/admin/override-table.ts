import type { OverrideRecord } from "../domain/overrides.js";
import type { DescriptorEntry, RateLimitRule } from "../domain/rules.js";
import type { OperatorLimits } from "../limiting/resolve.js";

/**
 * The in-memory table of operator overrides that the hot path reads (it never queries Postgres).
 * Replaced whole on every sync; single entries change right after a local admin write so that a
 * caller sees its own change at once, before the NOTIFY round trip.
 */
interface Entry {
  readonly rule: RateLimitRule;
  /** Wall-clock ms after which the override no longer applies, or Infinity. */
  readonly expiresAtMs: number;
}

/** One string per exact descriptor; JSON keeps keys and values that contain any character apart. */
export function descriptorId(entries: readonly DescriptorEntry[]): string {
  return JSON.stringify(entries.map((e) => [e.key, e.value]));
}

function entryOf(record: OverrideRecord): Entry {
  const { requestsPerUnit, unit, burst } = record.limit;
  return {
    // No name: a rule's `replaces` names rules, and can never drop an operator's limit.
    rule: { name: undefined, unit, requestsPerUnit, burst, unlimited: false, replaces: [] },
    expiresAtMs: record.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY,
  };
}

export class OverrideTable implements OperatorLimits {
  #byDomain = new Map<string, Map<string, Entry>>();

  /** Number of overrides held (for logs and tests). */
  get size(): number {
    let n = 0;
    for (const domain of this.#byDomain.values()) n += domain.size;
    return n;
  }

  replace(records: readonly OverrideRecord[]): void {
    const next = new Map<string, Map<string, Entry>>();
    for (const record of records) {
      let domain = next.get(record.domain);
      if (domain === undefined) next.set(record.domain, (domain = new Map<string, Entry>()));
      domain.set(descriptorId(record.entries), entryOf(record));
    }
    this.#byDomain = next;
  }

  upsert(record: OverrideRecord): void {
    const domain = new Map<string, Entry>(this.#byDomain.get(record.domain));
    domain.set(descriptorId(record.entries), entryOf(record));
    this.#byDomain = new Map(this.#byDomain).set(record.domain, domain);
  }

  remove(domainName: string, entries: readonly DescriptorEntry[]): void {
    const domain = new Map<string, Entry>(this.#byDomain.get(domainName));
    domain.delete(descriptorId(entries));
    this.#byDomain = new Map(this.#byDomain).set(domainName, domain);
  }

  /** The override for exactly this descriptor, if one applies at `nowMs`. Cheap when a domain has none. */
  lookup(domainName: string, entries: readonly DescriptorEntry[], nowMs: number): RateLimitRule | undefined {
    const domain = this.#byDomain.get(domainName);
    if (domain === undefined || domain.size === 0) return undefined;
    const entry = domain.get(descriptorId(entries));
    return entry !== undefined && nowMs < entry.expiresAtMs ? entry.rule : undefined;
  }

  hasDomain(domainName: string): boolean {
    return (this.#byDomain.get(domainName)?.size ?? 0) > 0;
  }
}
