import type { OverrideLimit } from "../domain/overrides.js";
import { invalidArgument } from "../domain/errors.js";
import type { DescriptorEntry } from "../domain/rules.js";
import { UINT32_MAX } from "../domain/rules.js";
import type { Unit } from "../domain/units.js";
import type { StringKind } from "../limiting/limits.js";
import { checkLimitEntries } from "../limiting/check-limit.js";
import { badString, INPUT_LIMITS, validateEntries } from "../limiting/limits.js";

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

/** The public path's string rule (limits.ts), for a field an operator sent. */
function checkString(value: string, field: string, rule: { max: number; kind: StringKind }): string {
  if (badString(value, rule.max, rule.kind)) throw invalidArgument(field);
  return value;
}

const DOMAIN = { max: INPUT_LIMITS.maxDomainLength, kind: "name" } as const;
const VALUE = { max: INPUT_LIMITS.maxValueLength, kind: "value" } as const;

function checkEntries(entries: readonly DescriptorEntry[]): void {
  if (entries.length === 0) throw invalidArgument("target.entries");
  validateEntries(entries, { at: "target", values: "value" });
}

/** CheckLimit's sugar: the entries CheckLimit itself builds for this user and/or endpoint. */
function sugarEntries(input: TargetInput): DescriptorEntry[] {
  checkString(input.userId, "target.user_id", VALUE);
  checkString(input.endpoint, "target.endpoint", VALUE);
  return checkLimitEntries(input.userId, input.endpoint);
}

export function validateTarget(input: TargetInput | undefined, checkLimitDomain: string): Target {
  if (input === undefined) throw invalidArgument("target");
  const sugar = input.userId !== "" || input.endpoint !== "";
  if (sugar && input.entries.length > 0) throw invalidArgument("target.entries");
  const domain = input.domain === "" && sugar ? checkLimitDomain : input.domain;
  if (domain.length === 0) throw invalidArgument("target.domain");
  checkString(domain, "target.domain", DOMAIN);
  const entries = sugar ? sugarEntries(input) : input.entries;
  checkEntries(entries);
  return { domain, entries };
}

/** Page sizes of the admin lists (docs/audit-log.md, "Schema and migrations"): 0 means the default. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 500;

/** A list's page size: 0 is the default, above the maximum is the maximum. */
export function validatePageSize(requested: number): number {
  if (!Number.isInteger(requested) || requested < 0) throw invalidArgument("page_size");
  return requested === 0 ? DEFAULT_PAGE_SIZE : Math.min(requested, MAX_PAGE_SIZE);
}

/** A list filter (ListOverrides' domain, ListAuditEvents' actor); "" means none. */
export function validateFilter(value: string, field: "domain" | "actor"): string {
  return checkString(value, field, field === "domain" ? DOMAIN : VALUE);
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

/** Free text: tabs and newlines are fine, other control characters are not. */
export function validateReason(reason: string): string {
  const trimmed = reason.trim();
  if (trimmed.length === 0) throw invalidArgument("reason");
  return checkString(trimmed, "reason", { max: MAX_REASON_LENGTH, kind: "text" });
}

/** google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z. */
const MIN_TIMESTAMP_MS = Date.parse("0001-01-01T00:00:00Z");
const MAX_TIMESTAMP_MS = Date.parse("9999-12-31T23:59:59.999Z");

/** A valid date within Timestamp's range (an invalid Date has NaN and fails both tests). */
export function validateTimestamp(date: Date, field: string): Date {
  const ms = date.getTime();
  if (!(ms >= MIN_TIMESTAMP_MS && ms <= MAX_TIMESTAMP_MS)) throw invalidArgument(field);
  return date;
}

export function validateExpiry(expiresAt: Date | undefined, nowMs: number): Date | undefined {
  if (expiresAt === undefined) return undefined;
  if (!(validateTimestamp(expiresAt, "expires_at").getTime() > nowMs)) throw invalidArgument("expires_at");
  return expiresAt;
}
