import type { OverrideRecord } from "../../domain/overrides.js";
import type { ChangeFeed } from "./pg-change-feed.js";
import type { Db } from "./pg-db.js";
import {
  deleteOverride,
  expireOverrides,
  listOverrides,
  loadActiveOverrides,
  setOverride,
} from "./pg-overrides.js";
import type { DescriptorChange, OverrideQuery, OverrideRepository, SetOverrideInput } from "../ports.js";
import type { Page } from "../types.js";

/**
 * The OverrideRepository on one pool, shared with the audit log: each change commits with its
 * audit row (pg-overrides.ts), then the change feed tells the listeners.
 */
export class PgOverrideRepository implements OverrideRepository {
  constructor(
    private readonly db: Db,
    private readonly feed: ChangeFeed,
  ) {}

  /** After the commit: tell this process's listeners (embedded mode) when something changed. */
  private changed<T>(result: T, didChange: boolean): T {
    if (didChange) this.feed.committed();
    return result;
  }

  async setOverride(input: SetOverrideInput): Promise<OverrideRecord> {
    return this.changed(await setOverride(this.db, input), true);
  }

  async deleteOverride(input: DescriptorChange): Promise<OverrideRecord | undefined> {
    const deleted = await deleteOverride(this.db, input);
    return this.changed(deleted, deleted !== undefined);
  }

  listOverrides(query: OverrideQuery): Promise<Page<OverrideRecord>> {
    return listOverrides(this.db, query);
  }

  loadActiveOverrides(): Promise<OverrideRecord[]> {
    return loadActiveOverrides(this.db);
  }

  async expireOverrides(): Promise<OverrideRecord[]> {
    const expired = await expireOverrides(this.db);
    return this.changed(expired, expired.length > 0);
  }

  onOverridesChanged(listener: () => void): Promise<() => Promise<void>> {
    return this.feed.subscribe(listener);
  }
}
