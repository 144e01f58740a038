import { describe, expect, it } from "vitest";
import type { OverrideSyncOptions } from "../../src/admin/override-sync.js";
import { startOverrideSync } from "../../src/admin/override-sync.js";
import type { OverrideRecord } from "../../src/domain/overrides.js";
import { sleep } from "../harness/processes.js";

async function eventually(check: () => boolean): Promise<void> {
  for (let waited = 0; !check(); waited += 5) {
    if (waited > 2000) throw new Error("condition not met within 2 s");
    await sleep(5);
  }
}

function record(id: string, expiresAt?: number): OverrideRecord {
  return {
    id,
    domain: "d",
    entries: [{ key: "user_id", value: id }],
    limit: { requestsPerUnit: 1, unit: "second", burst: undefined },
    expiresAt: expiresAt === undefined ? undefined : new Date(expiresAt),
    reason: "r",
    createdBy: "ops",
    createdAt: new Date(0),
    updatedAt: new Date(0),
  };
}

/** An in-memory stand-in for the override repository: a table, a switch to make it fail, and a notifier. */
function fakeRepository(initial: OverrideRecord[]) {
  const state = { rows: initial, down: false, loads: 0, notify: (): void => undefined };
  const check = () => {
    if (state.down) throw new Error("database down");
  };
  const repository: OverrideSyncOptions["repository"] = {
    loadActiveOverrides: () => {
      state.loads++;
      check();
      return Promise.resolve([...state.rows]);
    },
    expireOverrides: () => {
      check();
      return Promise.resolve([]);
    },
    onOverridesChanged: (listener) => {
      state.notify = listener;
      return Promise.resolve(() => Promise.resolve());
    },
  };
  return { state, repository };
}

describe("override sync", () => {
  it("loads at start, reloads once per burst of notifications, and keeps its table when the store fails", async () => {
    const { state, repository } = fakeRepository([record("1")]);
    const applied: string[][] = [];
    const errors: unknown[] = [];
    const sync = await startOverrideSync({
      repository,
      apply: (records) => applied.push(records.map((r) => r.id)),
      resyncMs: 60_000,
      sweepMs: 60_000,
      debounceMs: 10,
      onError: (e) => errors.push(e),
    });
    try {
      expect(applied).toEqual([["1"]]);
      state.rows = [record("1"), record("2")];
      for (let i = 0; i < 5; i++) state.notify();
      await eventually(() => applied.length === 2);
      await sleep(30);
      expect(state.loads).toBe(2);
      expect(applied.at(-1)).toEqual(["1", "2"]);

      state.down = true;
      state.notify();
      await eventually(() => errors.length === 1);
      expect(applied.at(-1)).toEqual(["1", "2"]);
    } finally {
      await sync.stop();
    }
  });

  it("starts even with the store down, and drops expired overrides by the injected clock", async () => {
    const { state, repository } = fakeRepository([]);
    state.down = true;
    let now = 1_000;
    let table: OverrideRecord[] | undefined;
    const errors: unknown[] = [];
    const sync = await startOverrideSync({
      repository,
      apply: (records) => (table = records),
      resyncMs: 15,
      sweepMs: 10,
      onError: (e) => errors.push(e),
      now: () => now,
    });
    try {
      expect(table).toBeUndefined();
      expect(errors.length).toBeGreaterThan(0);
      state.rows = [record("keep"), record("soon", 2_000)];
      state.down = false;
      await eventually(() => table?.length === 2);
      expect(table?.map((r) => r.id)).toEqual(["keep", "soon"]);
      state.down = true; // the database cannot expire it now; the local clock still does
      now = 2_000;
      await eventually(() => table?.length === 1);
      expect(table?.map((r) => r.id)).toEqual(["keep"]);
    } finally {
      await sync.stop();
    }
  });
});
