import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthenticator, MAX_AUTHORIZATION_LENGTH } from "../../src/admin/auth/authenticator.js";
import { PERMISSION_DENIED_MESSAGE, requireScope } from "../../src/admin/auth/authorize.js";
import { SCOPE_ADMIN, SCOPE_READ } from "../../src/admin/auth/types.js";
import type { Authenticator, AuthFailure, Principal } from "../../src/admin/auth/types.js";
import { FloodgateError } from "../../src/domain/errors.js";
import {
  adminSettings,
  b64url,
  bearer,
  claims,
  expectAuthFailure,
  hs256WithPublicKey,
  makeKey,
  MAX_LIFETIME_S,
  now,
  sign,
  TempDir,
  TOLERANCE_S,
  unsecuredToken,
} from "./support/auth-fixtures.js";
import type { TestKey } from "./support/auth-fixtures.js";

// The security matrix (docs/admin-auth.md, "How failures are reported"): every refusal carries the
// same message, and the expected reason.

let dir: TempDir;
let rsa: TestKey;
let stranger: TestKey; // same kid as `rsa`, different key material, not in the JWKS
let jwksAuth: Authenticator;
let pemAuth: Authenticator;

beforeAll(async () => {
  dir = await TempDir.create();
  rsa = await makeKey("RS256", "k-rsa");
  stranger = await makeKey("RS256", "k-rsa");
  const ec = await makeKey("ES256", "k-ec");
  const jwksFile = await dir.write("jwks.json", JSON.stringify({ keys: [rsa.jwk, ec.jwk] }));
  jwksAuth = await createAuthenticator(adminSettings({ jwksFile }));
  const publicKeyFile = await dir.write("rsa.pub.pem", rsa.spki);
  pemAuth = await createAuthenticator(adminSettings({ publicKeyFile }));
});

afterAll(async () => {
  await dir.cleanup();
});

/** Splits a compact JWS so a test can tamper with one part. */
function parts(token: string): [string, string, string] {
  const [header, payload, signature] = token.split(".");
  return [header!, payload!, signature!];
}

describe("token refusals (JWKS file source)", () => {
  const cases: [string, () => Promise<string>, AuthFailure][] = [
    ["alg none", () => Promise.resolve(unsecuredToken(claims())), "algorithm"],
    [
      "HS256 keyed with the public key",
      () => Promise.resolve(hs256WithPublicKey(rsa, claims())),
      "algorithm",
    ],
    ["expired", () => sign(rsa, claims({ iat: now() - 400, exp: now() - TOLERANCE_S - 5 })), "expired"],
    ["nbf in the future", () => sign(rsa, claims({ nbf: now() + TOLERANCE_S + 60 })), "not_yet_valid"],
    ["iat in the future", () => sign(rsa, claims({ iat: now() + TOLERANCE_S + 60 })), "not_yet_valid"],
    ["wrong iss", () => sign(rsa, claims({ iss: "https://evil.test" })), "issuer"],
    ["wrong aud", () => sign(rsa, claims({ aud: ["other", "another"] })), "audience"],
    ["unknown kid", () => sign(rsa, claims(), { kid: "k-nobody" }), "unknown_key"],
    ["right kid, wrong key", () => sign(stranger, claims()), "signature"],
    ["lifetime above the maximum", () => sign(rsa, claims({ exp: now() + MAX_LIFETIME_S + 1 })), "lifetime"],
    ["missing sub", () => sign(rsa, claims({ sub: undefined })), "claims"],
    ["missing exp", () => sign(rsa, claims({ exp: undefined })), "claims"],
    ["missing iat", () => sign(rsa, claims({ iat: undefined })), "claims"],
    ["missing iss", () => sign(rsa, claims({ iss: undefined })), "claims"],
    ["missing aud", () => sign(rsa, claims({ aud: undefined })), "claims"],
    ["non-string sub", () => sign(rsa, claims({ sub: 42 })), "claims"],
    ["string exp", () => sign(rsa, claims({ exp: String(now() + 60) })), "claims"],
    ["exp before iat", () => sign(rsa, claims({ iat: now() + 10, exp: now() + 5 })), "claims"],
    ["scope of the wrong type", () => sign(rsa, claims({ scope: { admin: true } })), "claims"],
    ["scp with a non-string", () => sign(rsa, claims({ scp: ["floodgate:read", 7] })), "claims"],
    ["not JSON inside", () => Promise.resolve("eyJub3QganNvbg.eyJub3QganNvbg.c2ln"), "malformed"],
    // A JWS extension we do not implement is the token's problem, never a key-source outage.
    [
      "an unknown critical header",
      () => sign(rsa, claims(), { critical: { "urn:example:policy": "strict" } }),
      "malformed",
    ],
  ];

  it.each(cases)("%s", async (_name, token, reason) => {
    await expectAuthFailure(jwksAuth.authenticate(bearer(await token()), "read"), reason);
  });

  it("tampered payload (re-encoded, original signature)", async () => {
    const [header, , signature] = parts(await sign(rsa, claims({ scope: "floodgate:read" })));
    const forged = `${header}.${b64url(claims({ scope: "floodgate:admin" }))}.${signature}`;
    await expectAuthFailure(jwksAuth.authenticate(bearer(forged), "read"), "signature");
  });

  it("tampered signature", async () => {
    const [header, payload, signature] = parts(await sign(rsa, claims()));
    // Change a character in the middle: the last one may only carry padding bits.
    const middle = Math.floor(signature.length / 2);
    const flipped = signature[middle] === "A" ? "B" : "A";
    const forged = `${header}.${payload}.${signature.slice(0, middle)}${flipped}${signature.slice(middle + 1)}`;
    await expectAuthFailure(jwksAuth.authenticate(bearer(forged), "read"), "signature");
  });

  it("accepts a token within the clock tolerance", async () => {
    const t = now();
    const token = await sign(rsa, claims({ iat: t + 5, nbf: t + 5, exp: t + 60 }));
    await expect(jwksAuth.authenticate(bearer(token), "read")).resolves.toMatchObject({ sub: "alice" });
  });
});

describe("token refusals (PEM public key source)", () => {
  it("refuses alg none and the HS256 key-confusion attack", async () => {
    await expectAuthFailure(pemAuth.authenticate(bearer(unsecuredToken(claims())), "read"), "algorithm");
    await expectAuthFailure(
      pemAuth.authenticate(bearer(hs256WithPublicKey(rsa, claims())), "read"),
      "algorithm",
    );
  });

  it("refuses another algorithm than the key's and a foreign signature", async () => {
    const ec = await makeKey("ES256", "k-rsa");
    await expectAuthFailure(pemAuth.authenticate(bearer(await sign(ec, claims())), "read"), "algorithm");
    await expectAuthFailure(
      pemAuth.authenticate(bearer(await sign(stranger, claims())), "read"),
      "signature",
    );
  });
});

describe("authorization header", () => {
  const cases: [string, string | undefined, AuthFailure][] = [
    ["absent", undefined, "missing"],
    ["empty", "", "missing"],
    ["blank", "   ", "missing"],
    ["another scheme", "Basic dXNlcjpwYXNz", "malformed"],
    ["scheme alone", "Bearer", "malformed"],
    ["scheme and space", "Bearer ", "malformed"],
    ["two segments", "Bearer a.b", "malformed"],
    ["four segments", "Bearer a.b.c.d", "malformed"],
    ["not base64url", "Bearer a+b.c/d.e=", "malformed"],
    ["garbage", "\u0000\u00ff💥", "malformed"],
    ["token without scheme", "eyJh.eyJi.c2ln", "malformed"],
    ["oversized", `Bearer ${"a".repeat(MAX_AUTHORIZATION_LENGTH)}.b.c`, "oversized"],
  ];

  it.each(cases)("%s", async (_name, header, reason) => {
    await expectAuthFailure(jwksAuth.authenticate(header, "read"), reason);
  });

  it("takes the scheme in any case", async () => {
    const token = await sign(rsa, claims());
    await expect(jwksAuth.authenticate(`bearer ${token}`, "read")).resolves.toMatchObject({ sub: "alice" });
    await expect(jwksAuth.authenticate(`BEARER  ${token}`, "read")).resolves.toMatchObject({ sub: "alice" });
  });
});

describe("scopes", () => {
  async function principal(scopeClaims: Record<string, unknown>): Promise<Principal> {
    return jwksAuth.authenticate(
      bearer(await sign(rsa, claims({ scope: undefined, ...scopeClaims }))),
      "read",
    );
  }

  function expectDenied(run: () => void): void {
    let caught: unknown;
    try {
      run();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FloodgateError);
    expect((caught as FloodgateError).code).toBe("PERMISSION_DENIED");
    expect((caught as FloodgateError).message).toBe(PERMISSION_DENIED_MESSAGE);
  }

  it("a token without a scope authenticates but may do nothing", async () => {
    const p = await principal({});
    expect(p.scopes.size).toBe(0);
    expectDenied(() => requireScope(p, SCOPE_READ));
    expectDenied(() => requireScope(p, SCOPE_ADMIN));
  });

  it("a read scope may read but not write", async () => {
    const p = await principal({ scope: "openid floodgate:read" });
    expect(() => requireScope(p, SCOPE_READ)).not.toThrow();
    expectDenied(() => requireScope(p, SCOPE_ADMIN));
  });

  it("admin implies read", async () => {
    const p = await principal({ scp: [SCOPE_ADMIN] });
    expect(() => requireScope(p, SCOPE_ADMIN)).not.toThrow();
    expect(() => requireScope(p, SCOPE_READ)).not.toThrow();
  });

  it("the principal's scopes are the union of scope and scp", async () => {
    const p = await principal({ scope: "a  b", scp: ["c", SCOPE_READ] });
    expect([...p.scopes].sort()).toEqual(["a", "b", "c", SCOPE_READ].sort());
    expect(p).toMatchObject({ sub: "alice", iss: "https://issuer.test", jti: "jti-1" });
  });

  it("a similar-looking scope grants nothing", async () => {
    const p = await principal({ scope: "floodgate:admin2 FLOODGATE:ADMIN floodgate" });
    expectDenied(() => requireScope(p, SCOPE_READ));
  });
});
