import type { OverrideLimit } from "../audit/types.js";
import { invalidArgument } from "../domain/errors.js";
import type { DescriptorEntry } from "../domain/rules.js";
import type { Unit } from "../domain/units.js";
import { INPUT_LIMITS } from "./limits.js";

/** Admin inputs as the transports hand them over, before validation. */
export interface TargetInput {
  readonly domain: string;
  readonly entries: readonly DescriptorEntry[];
  /** CheckLimit sugar: user_id and/or endpoint in CHECK_LIMIT_DOMAIN. */
  readonly userId: string;
  readonly endpoint: string;
}

export interface LimitInput {
  readonly requestsPerUnit: number;
  readonly unit: Unit | undefined;
  /** 0 means none (capacity = requests_per_unit). */
  readonly burst: number;
}

export interface Target {
  readonly domain: string;
  readonly entries: readonly DescriptorEntry[];
}

export const MAX_REASON_LENGTH = 1024;
const UINT32_MAX = 4_294_967_295;

function checkEntries(entries: readonly DescriptorEntry[]): void {
  if (entries.length === 0 || entries.length > INPUT_LIMITS.maxEntries)
    throw invalidArgument("target.entries");
  entries.forEach((entry, i) => {
    if (entry.key.length === 0 || entry.key.length > INPUT_LIMITS.maxKeyLength) {
      throw invalidArgument(`target.entries[${i}].key`);
    }
    if (entry.value.length > INPUT_LIMITS.maxValueLength) throw invalidArgument(`target.entries[${i}].value`);
  });
}

/** CheckLimit's descriptors, in its order: [(user_id,U)], [(endpoint,E)] or [(user_id,U),(endpoint,E)]. */
function sugarEntries(input: TargetInput): DescriptorEntry[] {
  const entries: DescriptorEntry[] = [];
  if (input.userId !== "") entries.push({ key: "user_id", value: input.userId });
  if (input.endpoint !== "") entries.push({ key: "endpoint", value: input.endpoint });
  return entries;
}

export function validateTarget(input: TargetInput | undefined, checkLimitDomain: string): Target {
  if (input === undefined) throw invalidArgument("target");
  const sugar = input.userId !== "" || input.endpoint !== "";
  if (sugar && input.entries.length > 0) throw invalidArgument("target.entries");
  const domain = input.domain === "" && sugar ? checkLimitDomain : input.domain;
  if (domain.length === 0 || domain.length > INPUT_LIMITS.maxDomainLength)
    throw invalidArgument("target.domain");
  const entries = sugar ? sugarEntries(input) : input.entries;
  checkEntries(entries);
  return { domain, entries };
}

export function validateLimit(input: LimitInput | undefined): OverrideLimit {
  if (input === undefined) throw invalidArgument("limit");
  if (input.unit === undefined) throw invalidArgument("limit.unit");
  if (
    !Number.isInteger(input.requestsPerUnit) ||
    input.requestsPerUnit < 0 ||
    input.requestsPerUnit > UINT32_MAX
  ) {
    throw invalidArgument("limit.requests_per_unit");
  }
  if (!Number.isInteger(input.burst) || input.burst < 0 || input.burst > UINT32_MAX)
    throw invalidArgument("limit.burst");
  return {
    requestsPerUnit: input.requestsPerUnit,
    unit: input.unit,
    burst: input.burst === 0 ? undefined : input.burst,
  };
}

export function validateReason(reason: string): string {
  const trimmed = reason.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_REASON_LENGTH) throw invalidArgument("reason");
  return trimmed;
}

export function validateExpiry(expiresAt: Date | undefined, nowMs: number): Date | undefined {
  if (expiresAt !== undefined && !(expiresAt.getTime() > nowMs)) throw invalidArgument("expires_at");
  return expiresAt;
}
