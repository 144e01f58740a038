/**
 * What Floodgate checks before sealing a row it appended (docs/audit-log.md, "Seals"): the row
 * holds what was sent, and follows the newest row, whose seal verifies. Pure; the attacks on a
 * real database are in test/integration/audit-seals.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { SealedRow } from "../../src/admin/postgres/append-checks.js";
import { contentProblem, sealLink, sentColumns } from "../../src/admin/postgres/append-checks.js";
import { parseChainKeys } from "../../src/admin/postgres/chain-key.js";
import type { ChainRow } from "../../src/admin/postgres/chain-row.js";
import { GENESIS_HASH, rowHash, sealOf } from "../../src/admin/postgres/chain-row.js";
import type { AuditEntry } from "../../src/admin/types.js";

const KEYS = parseChainKeys("k".repeat(40));
const OTHER = parseChainKeys("o".repeat(40));

const ENTRY: AuditEntry = {
  actor: { sub: "alice", iss: "https://issuer.test", jti: undefined },
  action: "override.set",
  domain: "api",
  target: { domain: "api", entries: [{ key: "user", value: "u" }] },
  before: null,
  after: { requests_per_unit: 10, n: 1e21, small: 1e-7, neg: -0, big: 2 ** 60 },
  reason: "incident",
  requestId: undefined,
};

/** A row holding `entry` after `prevHash`, with its hash computed as Floodgate does. */
function rowOf(id: string, prevHash: string, entry: AuditEntry = ENTRY): ChainRow {
  const row = { ...sentColumns(entry), id, at: "2024-01-01T00:00:00.000000Z", prev_hash: prevHash, hash: "" };
  return { ...row, hash: rowHash(row) };
}

function sealed(row: ChainRow, prevSeal: string | undefined, keys = KEYS): SealedRow {
  const seal = sealOf(keys.current, { prevSeal: prevSeal ?? GENESIS_HASH, id: row.id, hash: row.hash });
  return { row, stored: { seal, keyId: keys.current.id }, prevSeal };
}

describe("contentProblem", () => {
  it("accepts jsonb's own rendering of what was sent: key order, spacing and number forms", () => {
    const row = {
      ...rowOf("1", GENESIS_HASH),
      target: '{"domain": "api", "entries": [{"key": "user", "value": "u"}]}',
      after:
        '{"n": 1000000000000000000000, "big": 1152921504606846976, "neg": 0, "small": 0.0000001, "requests_per_unit": 10}',
    };
    expect(contentProblem(row, sentColumns(ENTRY))).toBeUndefined();
  });

  it("names every column that differs, and only those", () => {
    const row = { ...rowOf("1", GENESIS_HASH), reason: "other", actor_jti: "j", before: "{}" };
    expect(contentProblem(row, sentColumns(ENTRY))).toBe(
      "not the row Floodgate sent: actor_jti, before, reason differ",
    );
  });
});

describe("sealLink", () => {
  const first = rowOf("1", GENESIS_HASH);
  const second = rowOf("2", first.hash);

  it("chains the first row of a log to the genesis seal, and a later one to its predecessor's seal", () => {
    expect(sealLink(KEYS, { appended: first, before: undefined, newestSealId: undefined })).toEqual({
      prevSeal: GENESIS_HASH,
    });
    const before = sealed(first, undefined);
    expect(sealLink(KEYS, { appended: second, before, newestSealId: "1" })).toEqual({
      prevSeal: before.stored!.seal,
    });
  });

  it("verifies a predecessor sealed by an older key that is still in the file", () => {
    const rotated = parseChainKeys(`${"n".repeat(40)}\n${"k".repeat(40)}`);
    const before = sealed(first, undefined, KEYS);
    expect(sealLink(rotated, { appended: second, before, newestSealId: "1" })).toHaveProperty("prevSeal");
  });

  it.each([
    [
      "a seal without its row",
      { appended: first, before: undefined, newestSealId: "7" },
      /^row deleted: .*\(row 7\)/,
    ],
    [
      "a predecessor sealed with a key not in the file",
      { appended: second, before: sealed(first, undefined, OTHER), newestSealId: "1" },
      /^row 1 before it: sealed with key [0-9a-f]{16}, which is not in AUDIT_CHAIN_KEY_FILE/,
    ],
    [
      "a predecessor whose stored hash is not its content's",
      {
        appended: rowOf("2", "c".repeat(64)),
        before: sealed({ ...first, hash: "c".repeat(64) }, undefined),
        newestSealId: "1",
      },
      /^row 1 before it: hash mismatch/,
    ],
    [
      "a first row that does not start at the genesis hash",
      { appended: rowOf("1", "d".repeat(64)), before: undefined, newestSealId: undefined },
      /^broken link: the first row/,
    ],
    [
      "rows and no seal at all",
      {
        appended: second,
        before: { row: first, stored: undefined, prevSeal: undefined },
        newestSealId: undefined,
      },
      /^no row is sealed/,
    ],
  ])("refuses %s", (_what, state, problem) => {
    expect(sealLink(KEYS, state)).toEqual({ problem: expect.stringMatching(problem) });
  });
});
