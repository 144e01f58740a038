import { protoTimeFromDate } from "./timestamps.js";
import type { AuditEvent, VerifyResult } from "../../admin/types.js";
import type { OverrideLimit, OverrideRecord } from "../../domain/overrides.js";
import type { LimitInput, TargetInput } from "../../admin/admin-input.js";
import type { BucketView, VerifyInput } from "../../admin/admin-service.js";
import { protoUnitNumber, unitOfProtoNumber } from "./admin-units.js";

/** floodgate.v1.Admin messages ⇄ domain types; only this file knows their generated shapes. */
interface ProtoEntry {
  key: string;
  value: string;
}
export interface ProtoTarget {
  domain: string;
  entries: ProtoEntry[];
  user_id: string;
  endpoint: string;
}
export interface ProtoLimit {
  requests_per_unit: number;
  unit: number;
  burst: number;
}
export interface ProtoTimestamp {
  seconds: number;
  nanos: number;
}

export function toTargetInput(target: ProtoTarget | null): TargetInput | undefined {
  if (target === null) return undefined;
  return {
    domain: target.domain,
    entries: target.entries,
    userId: target.user_id,
    endpoint: target.endpoint,
  };
}

export function toLimitInput(limit: ProtoLimit | null): LimitInput | undefined {
  if (limit === null) return undefined;
  return {
    requestsPerUnit: limit.requests_per_unit,
    unit: unitOfProtoNumber(limit.unit),
    burst: limit.burst,
  };
}

/** Nanos outside 0..999,999,999 make no Timestamp: an invalid Date, which validation refuses. */
export function toDate(ts: ProtoTimestamp | null): Date | undefined {
  if (ts === null) return undefined;
  const nanosValid = Number.isInteger(ts.nanos) && ts.nanos >= 0 && ts.nanos <= 999_999_999;
  return new Date(nanosValid ? ts.seconds * 1000 + Math.floor(ts.nanos / 1e6) : Number.NaN);
}

function limitOut(limit: OverrideLimit): ProtoLimit {
  return {
    requests_per_unit: limit.requestsPerUnit,
    unit: protoUnitNumber(limit.unit),
    burst: limit.burst ?? 0,
  };
}

export function overrideOut(record: OverrideRecord): object {
  return {
    id: record.id,
    target: { domain: record.domain, entries: record.entries },
    limit: limitOut(record.limit),
    expires_at: protoTimeFromDate(record.expiresAt),
    reason: record.reason,
    created_by: record.createdBy,
    created_at: protoTimeFromDate(record.createdAt),
    updated_at: protoTimeFromDate(record.updatedAt),
  };
}

export function bucketOut(view: BucketView): object {
  return {
    exists: view.exists,
    tokens: view.tokens,
    updated_at: protoTimeFromDate(view.updatedAt),
    limit: view.limit === undefined ? undefined : limitOut(view.limit),
    overridden: view.overridden,
  };
}

const json = (value: unknown): string => (value === undefined || value === null ? "" : JSON.stringify(value));

export function auditEventOut(event: AuditEvent): object {
  return {
    id: event.id,
    at: protoTimeFromDate(event.at),
    actor: { sub: event.actor.sub, iss: event.actor.iss, jti: event.actor.jti ?? "" },
    action: event.action,
    domain: event.domain ?? "",
    target: json(event.target),
    before: json(event.before),
    after: json(event.after),
    reason: event.reason ?? "",
    request_id: event.requestId ?? "",
    prev_hash: event.prevHash,
    hash: event.hash,
  };
}

export function verifyOut(result: VerifyResult): object {
  return {
    ok: result.ok,
    checked: result.checked,
    first_broken_id: result.firstBroken?.id ?? "",
    problem: result.firstBroken?.problem ?? "",
    head_id: result.head?.id ?? "",
    head_hash: result.head?.hash ?? "",
    resumed_from_id: result.resumedFrom ?? "",
    seals_verified: result.sealsVerified,
    trusted_through_id: result.trustedThrough?.id ?? "",
    trusted_at: protoTimeFromDate(result.trustedThrough?.at),
    notes: result.notes,
  };
}

export interface ProtoVerifyRequest {
  full: boolean;
  expect_head_id: string;
  expect_head_hash: string;
}

export function toVerifyInput(request: ProtoVerifyRequest): VerifyInput {
  return {
    full: request.full,
    expectHeadId: request.expect_head_id,
    expectHeadHash: request.expect_head_hash,
  };
}
