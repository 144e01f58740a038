import type { AuditAction, AuditEvent, Page, VerifyResult } from "./types.js";
import { isRowId } from "./types.js";
import type { AuditLog, DescriptorChange, OverrideRepository } from "./ports.js";
import type { OverrideLimit, OverrideRecord } from "../domain/overrides.js";
import { requireScope } from "./auth/authorize.js";
import type { Principal } from "./auth/types.js";
import { SCOPE_ADMIN, SCOPE_READ } from "./auth/types.js";
import { FloodgateError, invalidArgument, isFloodgateError } from "../domain/errors.js";
import type { BucketId } from "../domain/bucket.js";
import type { BucketStore } from "../store/bucket-store.js";
import type { LimitInput, Target, TargetInput } from "./admin-input.js";
import {
  validateExpiry,
  validateFilter,
  validateLimit,
  validatePageSize,
  validateReason,
  validateTarget,
  validateTimestamp,
} from "./admin-input.js";
import type { OverrideTable } from "./override-table.js";
import { bucketOf } from "../limiting/plan.js";
import type { RulesSource } from "../limiting/rate-limiter.js";
import { resolveLimits } from "../limiting/resolve.js";

/**
 * The operators' service (floodgate.v1.Admin). Transports authenticate first and hand over a
 * Principal; every method checks its scope before it looks at the request. Every change goes
 * through the override repository or the audit log, which commit it together with its audit row.
 */
export interface AdminDeps {
  readonly overrideRepository: OverrideRepository;
  readonly auditLog: AuditLog;
  readonly store: Pick<BucketStore, "peek" | "reset">;
  readonly rules: RulesSource;
  readonly overrides: OverrideTable;
  readonly checkLimitDomain: string;
  /** Wall clock, ms. */
  readonly now: () => number;
  /** Told about every audit row written (metrics). */
  readonly onAudit?: (action: AuditAction) => void;
}

export interface AdminContext {
  readonly principal: Principal;
  readonly requestId: string | undefined;
  /** Aborted when the caller goes away (long calls stop early). */
  readonly signal?: AbortSignal;
}

export interface VerifyInput {
  readonly full: boolean;
  /** `--expect-head ID:HASH`, both empty when not given. */
  readonly expectHeadId: string;
  readonly expectHeadHash: string;
}

export interface BucketView {
  readonly exists: boolean;
  readonly tokens: number;
  readonly updatedAt: Date | undefined;
  readonly limit: OverrideLimit | undefined;
  readonly overridden: boolean;
}

export interface ListQuery {
  readonly pageSize: number;
  readonly pageToken: string;
}

function actorOf(ctx: AdminContext) {
  return {
    actor: { sub: ctx.principal.sub, iss: ctx.principal.iss, jti: ctx.principal.jti },
    requestId: ctx.requestId,
  };
}

/** Store failures reach operators as UNAVAILABLE, never as a bucket detail. */
async function storeCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isFloodgateError(error)) throw error;
    throw new FloodgateError("UNAVAILABLE", "rate limit store unavailable", String(error));
  }
}

export function createAdminService(deps: AdminDeps) {
  const { overrideRepository, auditLog, overrides } = deps;
  const audited = (action: AuditAction) => deps.onAudit?.(action);
  const target = (input: TargetInput | undefined): Target => validateTarget(input, deps.checkLimitDomain);

  /** The bucket a descriptor is counted in, and the limit that applies to it now. */
  function locate(t: Target) {
    const request = {
      domain: t.domain,
      descriptors: [{ entries: t.entries, descriptorLimit: undefined, hitsAddend: undefined }],
      hitsAddend: 0,
    };
    const resolved = resolveLimits(
      { rules: deps.rules.current(), operatorLimits: overrides, nowMs: deps.now() },
      request,
    )[0];
    const bucket: BucketId =
      resolved === undefined ? { domain: t.domain, entries: t.entries } : bucketOf(t.domain, resolved);
    return { bucket, resolved };
  }

  return {
    async setOverride(
      ctx: AdminContext,
      input: {
        target: TargetInput | undefined;
        limit: LimitInput | undefined;
        expiresAt: Date | undefined;
        reason: string;
      },
    ): Promise<OverrideRecord> {
      requireScope(ctx.principal, SCOPE_ADMIN);
      const { domain, entries } = target(input.target);
      const limit = validateLimit(input.limit);
      const context = { ...actorOf(ctx), reason: validateReason(input.reason) };
      const expiresAt = validateExpiry(input.expiresAt, deps.now());
      const record = await overrideRepository.setOverride({ domain, entries, limit, expiresAt, context });
      overrides.upsert(record);
      audited("override.set");
      return record;
    },

    async deleteOverride(
      ctx: AdminContext,
      input: { target: TargetInput | undefined; reason: string },
    ): Promise<boolean> {
      requireScope(ctx.principal, SCOPE_ADMIN);
      const { domain, entries } = target(input.target);
      const context = { ...actorOf(ctx), reason: validateReason(input.reason) };
      const deleted = await overrideRepository.deleteOverride({ domain, entries, context });
      overrides.remove(domain, entries);
      if (deleted !== undefined) audited("override.delete");
      return deleted !== undefined;
    },

    listOverrides(ctx: AdminContext, query: ListQuery & { domain: string }): Promise<Page<OverrideRecord>> {
      requireScope(ctx.principal, SCOPE_READ);
      return overrideRepository.listOverrides({
        ...(query.domain === "" ? {} : { domain: validateFilter(query.domain, "domain") }),
        pageSize: validatePageSize(query.pageSize),
        ...(query.pageToken === "" ? {} : { pageToken: query.pageToken }),
      });
    },

    async resetBucket(
      ctx: AdminContext,
      input: { target: TargetInput | undefined; reason: string },
    ): Promise<void> {
      requireScope(ctx.principal, SCOPE_ADMIN);
      const t = target(input.target);
      const context = { ...actorOf(ctx), reason: validateReason(input.reason) };
      await auditedReset(deps, {
        input: { domain: t.domain, entries: t.entries, context },
        bucket: locate(t).bucket,
      });
    },

    async getBucket(ctx: AdminContext, input: { target: TargetInput | undefined }): Promise<BucketView> {
      requireScope(ctx.principal, SCOPE_READ);
      const { bucket, resolved } = locate(target(input.target));
      const state = await storeCall(() => deps.store.peek(bucket));
      const rule = resolved?.rule;
      return {
        exists: state !== undefined,
        tokens: state?.tokens ?? 0,
        updatedAt: state === undefined ? undefined : new Date(state.updatedAtMs),
        limit:
          rule === undefined || rule.unlimited
            ? undefined
            : { requestsPerUnit: rule.requestsPerUnit, unit: rule.unit, burst: rule.burst },
        overridden: resolved?.source === "operator",
      };
    },

    listAuditEvents(
      ctx: AdminContext,
      query: ListQuery & { since: Date | undefined; until: Date | undefined; actor: string; action: string },
    ): Promise<Page<AuditEvent>> {
      requireScope(ctx.principal, SCOPE_READ);
      return auditLog.listAuditEvents({
        pageSize: validatePageSize(query.pageSize),
        ...(query.pageToken === "" ? {} : { pageToken: query.pageToken }),
        ...(query.since === undefined ? {} : { since: validateTimestamp(query.since, "since") }),
        ...(query.until === undefined ? {} : { until: validateTimestamp(query.until, "until") }),
        ...(query.actor === "" ? {} : { actor: validateFilter(query.actor, "actor") }),
        ...(query.action === "" ? {} : { action: auditAction(query.action) }),
      });
    },

    verifyAuditLog(ctx: AdminContext, input: VerifyInput): Promise<VerifyResult> {
      requireScope(ctx.principal, SCOPE_READ);
      const expectHead = exportedHead(input);
      return auditLog.verifyAuditLog({
        full: input.full,
        ...(expectHead === undefined ? {} : { expectHead }),
        ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
      });
    },
  };
}

export type AdminService = ReturnType<typeof createAdminService>;

/**
 * The audit log runs the reset inside its transaction, after the chain lock: no reset without
 * its row, and the row says whether it failed (docs/audit-log.md, "Bucket resets"). Left: a
 * commit that fails after a reset that happened, which the error's detail (logged) says.
 */
async function auditedReset(
  deps: AdminDeps,
  reset: { input: DescriptorChange; bucket: BucketId },
): Promise<void> {
  let outcome: { error: unknown } | "done" | undefined;
  try {
    await deps.auditLog.resetBucket(reset.input, async () => {
      await storeCall(() => deps.store.reset(reset.bucket)).catch((error: unknown) => {
        outcome = { error };
        throw error;
      });
      outcome = "done";
    });
  } catch (error) {
    if (typeof outcome === "object" && outcome.error === error) deps.onAudit?.("bucket.reset");
    if (outcome !== "done") throw error;
    const cause = isFloodgateError(error) ? (error.detail ?? error.message) : String(error);
    throw new FloodgateError(
      "UNAVAILABLE",
      "audit store unavailable",
      `bucket reset done, its audit row not confirmed: ${cause}`,
    );
  }
  deps.onAudit?.("bucket.reset");
}

const ACTIONS: readonly AuditAction[] = [
  "override.set",
  "override.delete",
  "override.expire",
  "bucket.reset",
  "rules.reload",
];

function auditAction(value: string): AuditAction {
  const action = ACTIONS.find((a) => a === value);
  if (action === undefined) throw invalidArgument("action");
  return action;
}

/** A head exported earlier (an audit row id and its hash), or none when both are empty. */
function exportedHead(input: VerifyInput): { id: string; hash: string } | undefined {
  if (input.expectHeadId === "" && input.expectHeadHash === "") return undefined;
  if (!isRowId(input.expectHeadId)) throw invalidArgument("expect_head_id");
  if (!/^[0-9a-fA-F]{64}$/.test(input.expectHeadHash)) throw invalidArgument("expect_head_hash");
  return { id: input.expectHeadId, hash: input.expectHeadHash.toLowerCase() };
}
