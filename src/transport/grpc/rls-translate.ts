import { invalidArgument } from "../../domain/errors.js";
import type { Unit } from "../../domain/units.js";
import type {
  DescriptorStatus,
  LimitRequest,
  LimitResult,
  LimitSpec,
  RequestDescriptor,
} from "../../service/types.js";

/**
 * Envoy RLS v3 messages ⇄ domain types. Only this file knows the generated shapes (keepCase,
 * numeric enums and longs). Zero scalars are left unset, so the bytes match what protoc-generated
 * encoders produce (reference §1.4).
 */
interface ProtoEntry {
  key: string;
  value: string;
}
interface ProtoDescriptor {
  entries: ProtoEntry[];
  limit: { requests_per_unit: number; unit: number } | null;
  hits_addend: { value: number } | null;
}
export interface ProtoRateLimitRequest {
  domain: string;
  descriptors: ProtoDescriptor[];
  hits_addend: number;
}

/** envoy.type.v3.RateLimitUnit (request side: no WEEK). */
const OVERRIDE_UNITS: readonly (Unit | undefined)[] = [
  undefined,
  "second",
  "minute",
  "hour",
  "day",
  "month",
  "year",
];

/** RateLimitResponse.RateLimit.Unit (response side: WEEK is 7). */
const RESPONSE_UNIT: Readonly<Record<Unit, number>> = {
  second: 1,
  minute: 2,
  hour: 3,
  day: 4,
  week: 7,
  month: 5,
  year: 6,
};

const CODE = { OK: 1, OVER_LIMIT: 2 } as const;

function toOverride(limit: ProtoDescriptor["limit"], index: number): LimitSpec | undefined {
  if (limit === null) return undefined;
  const unit = OVERRIDE_UNITS[limit.unit];
  if (unit === undefined) throw invalidArgument(`descriptors[${index}].limit.unit`);
  return { name: undefined, requestsPerUnit: limit.requests_per_unit, unit };
}

function toDescriptor(d: ProtoDescriptor, index: number): RequestDescriptor {
  return {
    entries: d.entries,
    limitOverride: toOverride(d.limit, index),
    hitsAddend: d.hits_addend === null ? undefined : d.hits_addend.value,
  };
}

export function fromRlsRequest(req: ProtoRateLimitRequest): LimitRequest {
  return { domain: req.domain, descriptors: req.descriptors.map(toDescriptor), hitsAddend: req.hits_addend };
}

function toStatus(s: DescriptorStatus): object {
  const code = CODE[s.code];
  const remaining = s.limitRemaining === 0 ? undefined : s.limitRemaining;
  if (s.currentLimit === undefined) return { code, limit_remaining: remaining };
  const limit = s.currentLimit;
  const seconds = Math.ceil(s.resetMs / 1000);
  return {
    code,
    current_limit: {
      name: limit.name === undefined || limit.name === "" ? undefined : limit.name,
      requests_per_unit: limit.requestsPerUnit === 0 ? undefined : limit.requestsPerUnit,
      unit: RESPONSE_UNIT[limit.unit],
    },
    limit_remaining: remaining,
    duration_until_reset: { seconds: seconds === 0 ? undefined : seconds },
  };
}

export function toRlsResponse(result: LimitResult): object {
  return {
    overall_code: CODE[result.overallCode],
    statuses: result.statuses.map(toStatus),
    response_headers_to_add: result.responseHeaders,
  };
}
