import type { DescriptorEntry } from "../domain/rules.js";
import { UINT32_MAX } from "../domain/rules.js";
import type { Unit } from "../domain/units.js";
import type { DecisionSource } from "../store/bucket-store.js";

/** A limit as Envoy sees it in `current_limit`, and as a descriptor `limit` carries it. */
export interface LimitSpec {
  readonly name: string | undefined;
  readonly requestsPerUnit: number;
  readonly unit: Unit;
}

export interface RequestDescriptor {
  readonly entries: readonly DescriptorEntry[];
  /** Envoy's per-descriptor `limit` (its RateLimitOverride message): used instead of the rules. */
  readonly descriptorLimit: LimitSpec | undefined;
  /** Present descriptor-level hits_addend; 0 means check without consuming. */
  readonly hitsAddend: number | undefined;
}

export interface LimitRequest {
  readonly domain: string;
  readonly descriptors: readonly RequestDescriptor[];
  /** Request-level hits_addend; 0 means 1. */
  readonly hitsAddend: number;
}

export type Code = "OK" | "OVER_LIMIT";

export interface DescriptorStatus {
  readonly code: Code;
  /** Absent when no limit applies (no match, unlimited, replaced). */
  readonly currentLimit: LimitSpec | undefined;
  readonly limitRemaining: number;
  /** Milliseconds until the bucket is full again. */
  readonly resetMs: number;
  /** When this descriptor blocks the request: milliseconds until it could pass. */
  readonly retryMs: number;
}

export interface HeaderPair {
  readonly key: string;
  readonly value: string;
}

export interface LimitResult {
  readonly overallCode: Code;
  readonly statuses: readonly DescriptorStatus[];
  readonly responseHeaders: readonly HeaderPair[];
  /** Where the decision came from; undefined when no bucket was consulted. */
  readonly source: DecisionSource | undefined;
}

/** Reported for an unlimited descriptor, as the reference server does. */
export const UNLIMITED_REMAINING = UINT32_MAX;
