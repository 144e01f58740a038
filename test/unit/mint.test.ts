import { createPrivateKey } from "node:crypto";
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";
import { createAuthenticator } from "../../src/admin/auth/authenticator.js";
import { requireScope } from "../../src/admin/auth/authorize.js";
import { jwksFromPublicKeyPem, mintToken, MintError } from "../../src/admin/auth/mint.js";
import type { MintOptions } from "../../src/admin/auth/mint.js";
import { SCOPE_ADMIN, SCOPE_READ } from "../../src/admin/auth/types.js";
import type { Authenticator } from "../../src/admin/auth/types.js";
import {
  adminSettings,
  AUDIENCE,
  bearer,
  expectAuthFailure,
  ISSUER,
  MAX_LIFETIME_S,
  useKeyFixture,
} from "./support/auth-fixtures.js";
import type { TestKey } from "./support/auth-fixtures.js";

const fx = useKeyFixture();

function options(key: TestKey, overrides: Partial<MintOptions> = {}): MintOptions {
  return {
    privateKeyPem: key.pkcs8,
    issuer: ISSUER,
    audience: AUDIENCE,
    subject: "ops@example.com",
    scopes: [SCOPE_READ],
    ttlSeconds: 300,
    ...overrides,
  };
}

async function pemAuthenticator(key: TestKey): Promise<Authenticator> {
  const publicKeyFile = await fx.dir.write(`${key.alg}.pub.pem`, key.spki);
  return createAuthenticator(adminSettings({ publicKeyFile }));
}

describe("mintToken", () => {
  it.each(["RS256", "ES256", "EdDSA"])("round-trips a %s token through createAuthenticator", async (alg) => {
    const key = fx.keys.find((k) => k.alg === alg)!;
    const token = await mintToken(options(key, { scopes: [SCOPE_ADMIN, "extra"], jti: "j-42" }));
    expect(decodeProtectedHeader(token)).toEqual({ alg, typ: "JWT" });
    const principal = await (await pemAuthenticator(key)).authenticate(bearer(token), "read");
    expect(principal).toMatchObject({ sub: "ops@example.com", iss: ISSUER, jti: "j-42" });
    expect([...principal.scopes]).toEqual([SCOPE_ADMIN, "extra"]);
    expect(() => requireScope(principal, SCOPE_ADMIN)).not.toThrow();
  });

  it("sets iat, exp from the ttl, a random jti by default, and the kid when given", async () => {
    const token = await mintToken(options(fx.keys[1]!, { kid: "k-es" }));
    const payload = decodeJwt(token);
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(decodeJwt(await mintToken(options(fx.keys[1]!))).jti).not.toBe(payload.jti);
    expect(decodeProtectedHeader(token).kid).toBe("k-es");
  });

  it("omits the scope claim when there are no scopes", async () => {
    const payload = decodeJwt(await mintToken(options(fx.keys[2]!, { scopes: [] })));
    expect(payload).not.toHaveProperty("scope");
  });

  it("reads PKCS#1 RSA and SEC1 EC private keys as openssl writes them", async () => {
    for (const [key, type] of [
      [fx.keys[0]!, "pkcs1"],
      [fx.keys[1]!, "sec1"],
    ] as const) {
      const legacy = createPrivateKey(key.pkcs8).export({ type, format: "pem" }).toString();
      const token = await mintToken(options(key, { privateKeyPem: legacy }));
      await expect((await pemAuthenticator(key)).authenticate(bearer(token), "read")).resolves.toBeDefined();
    }
  });

  it("mints a token the server refuses when the ttl exceeds its maximum lifetime", async () => {
    const token = await mintToken(options(fx.keys[0]!, { ttlSeconds: MAX_LIFETIME_S + 1 }));
    await expectAuthFailure(
      (await pemAuthenticator(fx.keys[0]!)).authenticate(bearer(token), "read"),
      "lifetime",
    );
  });

  const bad: [string, (k: TestKey[]) => Partial<MintOptions>, RegExp][] = [
    ["an alg that does not match the key", () => ({ alg: "ES256" }), /does not match/],
    ["a public key", (k) => ({ privateKeyPem: k[0]!.spki }), /private key/],
    ["garbage", () => ({ privateKeyPem: "not a key" }), /cannot use the private key/],
    ["a zero ttl", () => ({ ttlSeconds: 0 }), /ttlSeconds/],
    ["a fractional ttl", () => ({ ttlSeconds: 1.5 }), /ttlSeconds/],
    ["a scope with a space", () => ({ scopes: ["floodgate:read floodgate:admin"] }), /invalid scope/],
    ["an empty subject", () => ({ subject: " " }), /subject/],
    ["an empty kid", () => ({ kid: "" }), /kid/],
  ];

  it.each(bad)("refuses %s with a MintError", async (_name, overrides, message) => {
    const err: unknown = await mintToken(options(fx.keys[0]!, overrides(fx.keys))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MintError);
    expect((err as Error).message).toMatch(message);
  });
});

describe("jwksFromPublicKeyPem", () => {
  it.each(["RS256", "ES256", "EdDSA"])("publishes a %s key that verifies minted tokens", async (alg) => {
    const key = fx.keys.find((k) => k.alg === alg)!;
    const jwks = await jwksFromPublicKeyPem(key.spki, "k1");
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kid: "k1", alg, use: "sig" });
    expect(jwks.keys[0]).not.toHaveProperty("d");
    const jwksFile = await fx.dir.write(`${alg}.jwks.json`, JSON.stringify(jwks));
    const auth = await createAuthenticator(adminSettings({ jwksFile }));
    const token = await mintToken(options(key, { kid: "k1" }));
    await expect(auth.authenticate(bearer(token), "read")).resolves.toMatchObject({ sub: "ops@example.com" });
  });

  it("uses the RFC 7638 thumbprint as kid by default", async () => {
    const jwks = await jwksFromPublicKeyPem(fx.keys[1]!.spki);
    const { kid, alg: _alg, use: _use, ...bare } = jwks.keys[0]!;
    expect(kid).toBe(await calculateJwkThumbprint(bare));
  });

  it("refuses a private key", async () => {
    await expect(jwksFromPublicKeyPem(fx.keys[0]!.pkcs8, "k1")).rejects.toThrow(MintError);
  });
});
