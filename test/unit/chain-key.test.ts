import { describe, expect, it } from "vitest";
import { parseChainKeys } from "../../src/admin/postgres/chain-key.js";
import type { ChainRow } from "../../src/admin/postgres/chain-row.js";
import { contentOf, rowHash, sealOf } from "../../src/admin/postgres/chain-row.js";
import { SettingsError } from "../../src/config/settings.js";

const A = "a".repeat(32);
const B = "b".repeat(44);

describe("AUDIT_CHAIN_KEY_FILE contents", () => {
  it("reads one key per line, the first sealing; blank lines, comments and CRLF are fine", () => {
    const keys = parseChainKeys(`# current\r\n${B}\r\n\r\n  ${A}  \n`);
    expect(keys.current.secret.toString()).toBe(B);
    expect([...keys.byId.keys()]).toEqual([keys.current.id, parseChainKeys(A).current.id]);
    expect(keys.current.id).toMatch(/^[0-9a-f]{16}$/);
    expect(parseChainKeys(B).current.id).toBe(keys.current.id); // stable: stored with every seal
  });

  it("refuses a short key or an empty file with a SettingsError naming the variable, never the key", () => {
    expect(() => parseChainKeys(`${A}\nshort-secret\n`)).toThrow(SettingsError);
    expect(() => parseChainKeys(`${A}\nshort-secret\n`)).toThrow(
      /AUDIT_CHAIN_KEY_FILE: the key on line 2 is 12 bytes; at least 32 are needed/,
    );
    expect(() => parseChainKeys("short-secret")).not.toThrow(/short-secret/);
    expect(() => parseChainKeys("\n# nothing\n")).toThrow(/AUDIT_CHAIN_KEY_FILE: the file holds no key/);
  });
});

describe("the chain as Floodgate computes it", () => {
  // The text and order Postgres 15 printed for jsonb_build_object(...)::text of these values.
  const row: ChainRow = {
    id: "1",
    at: "2026-01-02T03:04:05.000006Z",
    actor_sub: "a",
    actor_iss: "b",
    actor_jti: null,
    action: "c",
    domain: "d",
    target: '{"a": [100, "é"], "b": 1.50}',
    before: null,
    after: null,
    reason: 'q"\\\n\t\u0001 é 😀',
    request_id: "r",
    prev_hash: "p",
    hash: "",
  };

  it("writes content as jsonb text does: keys by length then bytes, its escapes, nested jsonb as stored", () => {
    expect(contentOf(row)).toBe(
      '{"at": "2026-01-02T03:04:05.000006Z", "id": 1, "after": null, "action": "c", "before": null, ' +
        '"domain": "d", "reason": "q\\"\\\\\\n\\t\\u0001 é 😀", "target": {"a": [100, "é"], "b": 1.50}, ' +
        '"actor_iss": "b", "actor_jti": null, "actor_sub": "a", "prev_hash": "p", "request_id": "r"}',
    );
  });

  it("seals depend on the key, the previous seal, the row id and its hash", () => {
    const [a, b] = [parseChainKeys(A).current, parseChainKeys(B).current];
    const link = { prevSeal: "0".repeat(64), id: "1", hash: rowHash(row) };
    const seal = sealOf(a, link);
    expect(seal).toMatch(/^[0-9a-f]{64}$/);
    for (const other of [
      sealOf(b, link),
      sealOf(a, { ...link, prevSeal: "1".repeat(64) }),
      sealOf(a, { ...link, id: "2" }),
      sealOf(a, { ...link, hash: rowHash({ ...row, reason: "x" }) }),
    ])
      expect(other).not.toBe(seal);
  });
});
