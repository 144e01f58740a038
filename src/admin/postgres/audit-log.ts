import { FloodgateError } from "../../domain/errors.js";
import { listAuditEvents, recordRulesReload, resetBucket } from "./pg-audit-events.js";
import type { Db } from "./pg-db.js";
import { prepareChain } from "./pg-seals.js";
import { verifyChain } from "./pg-verify.js";
import type { AuditLog, AuditQuery, DescriptorChange } from "../ports.js";
import type { AuditEvent, ChainReport, Page, VerifyOptions, VerifyResult } from "../types.js";

/** The AuditLog on one pool, shared with the override repository; every method is one SQL module call. */
export class PgAuditLog implements AuditLog {
  private verifying = false;

  constructor(private readonly db: Db) {}

  resetBucket(input: DescriptorChange, reset: () => Promise<void>): Promise<void> {
    return resetBucket(this.db, { input, reset });
  }

  recordRulesReload(input: { digest: string; summary: unknown }): Promise<boolean> {
    return recordRulesReload(this.db, input);
  }

  listAuditEvents(query: AuditQuery): Promise<Page<AuditEvent>> {
    return listAuditEvents(this.db, query);
  }

  /** One walk at a time: a second would double the load for the same answer. */
  async verifyAuditLog(options: VerifyOptions = {}): Promise<VerifyResult> {
    if (this.verifying) {
      throw new FloodgateError(
        "UNAVAILABLE",
        "an audit verification is already running on this replica; retry when it has finished",
      );
    }
    this.verifying = true;
    try {
      return await verifyChain(this.db, options);
    } finally {
      this.verifying = false;
    }
  }

  prepareChain(): Promise<ChainReport> {
    return prepareChain(this.db);
  }
}
