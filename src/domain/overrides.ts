import type { DescriptorEntry } from "./rules.js";
import type { Unit } from "./units.js";

/** A limit set by an operator for one exact descriptor; it wins over the rules. */
export interface OverrideLimit {
  readonly requestsPerUnit: number;
  readonly unit: Unit;
  /** Bucket capacity; undefined means requestsPerUnit. */
  readonly burst: number | undefined;
}

/** An operator's override of one exact descriptor of one domain, as stored. */
export interface OverrideRecord {
  readonly id: string;
  readonly domain: string;
  readonly entries: readonly DescriptorEntry[];
  readonly limit: OverrideLimit;
  readonly expiresAt: Date | undefined;
  readonly reason: string;
  /** `sub` of whoever set it last. */
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}
