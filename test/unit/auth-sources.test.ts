import { generateKeyPairSync } from "node:crypto";
import type { JWK } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { createAuthenticator } from "../../src/admin/auth/authenticator.js";
import type { AuthenticatorOptions } from "../../src/admin/auth/authenticator.js";
import { SettingsError } from "../../src/config/settings.js";
import {
  adminSettings,
  bearer,
  claims,
  expectAuthFailure,
  JwksServer,
  makeKey,
  sign,
  useKeyFixture,
} from "./support/auth-fixtures.js";

// Happy paths for each key source and algorithm, startup errors, and JWKS URL caching.

const fx = useKeyFixture();

const EXPECTED = { sub: "alice", iss: "https://issuer.test", jti: "jti-1" };

describe("JWKS file", () => {
  it("accepts RS256, ES256 and EdDSA tokens by kid", async () => {
    const jwksFile = await fx.dir.write("all.json", JSON.stringify({ keys: fx.keys.map((k) => k.jwk) }));
    const auth = await createAuthenticator(adminSettings({ jwksFile }));
    for (const key of fx.keys) {
      const principal = await auth.authenticate(bearer(await sign(key, claims())), "read");
      expect(principal, key.alg).toMatchObject(EXPECTED);
      expect([...principal.scopes]).toEqual(["floodgate:admin"]);
    }
  });

  it("accepts a kid-less token when only one key fits", async () => {
    const jwksFile = await fx.dir.write("one.json", JSON.stringify({ keys: [fx.keys[2]!.jwk] }));
    const auth = await createAuthenticator(adminSettings({ jwksFile }));
    const token = await sign(fx.keys[2]!, claims(), { kid: null });
    await expect(auth.authenticate(bearer(token), "read")).resolves.toMatchObject(EXPECTED);
  });

  const rsaJwk = (): JWK => fx.keys[0]!.jwk;
  const jwks =
    (...members: unknown[]) =>
    () =>
      JSON.stringify({ keys: members });
  const bad: [string, () => string, RegExp][] = [
    ["not JSON", () => "{keys:", /JSON/],
    ["no keys", jwks(), /at least one key/],
    ["a private key", () => jwks({ ...rsaJwk(), d: "AQAB" })(), /private or secret/],
    ["a symmetric key", jwks({ kty: "oct", k: "c2VjcmV0" }), /private or secret/],
    ["an encryption key", () => jwks({ ...rsaJwk(), use: "enc" })(), /"use"/],
    ["a disallowed alg", () => jwks({ ...rsaJwk(), alg: "PS256" })(), /PS256/],
  ];

  it.each(bad)("stops startup naming ADMIN_JWKS_FILE for %s", async (_name, content, problem) => {
    const jwksFile = await fx.dir.write("bad.json", content());
    const err: unknown = await createAuthenticator(adminSettings({ jwksFile })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SettingsError);
    expect((err as Error).message).toMatch(/ADMIN_JWKS_FILE/);
    expect((err as Error).message).toMatch(problem);
  });

  it("stops startup for an unreadable file, in the words of every other setting's file", async () => {
    const settings = adminSettings({ jwksFile: `${fx.dir.path}/missing.json` });
    await expect(createAuthenticator(settings)).rejects.toThrow(
      /ADMIN_JWKS_FILE: cannot read ".*missing\.json" \(ENOENT\)/,
    );
    const pem = adminSettings({ jwksFile: undefined, publicKeyFile: `${fx.dir.path}/missing.pem` });
    await expect(createAuthenticator(pem)).rejects.toThrow(
      /ADMIN_PUBLIC_KEY_FILE: cannot read ".*missing\.pem" \(ENOENT\)/,
    );
  });
});

describe("PEM public key file", () => {
  it.each(["RS256", "ES256", "EdDSA"])("infers %s from the key, with or without a kid", async (alg) => {
    const key = fx.keys.find((k) => k.alg === alg)!;
    const publicKeyFile = await fx.dir.write(`${alg}.pub.pem`, key.spki);
    const auth = await createAuthenticator(adminSettings({ publicKeyFile }));
    const withoutKid = await sign(key, claims(), { kid: null });
    await expect(auth.authenticate(bearer(withoutKid), "read")).resolves.toMatchObject(EXPECTED);
    await expect(auth.authenticate(bearer(await sign(key, claims())), "read")).resolves.toMatchObject(
      EXPECTED,
    );
  });

  it("accepts a PKCS#1 RSA public key", async () => {
    const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const publicKeyFile = await fx.dir.write(
      "pkcs1.pem",
      publicKey.export({ type: "pkcs1", format: "pem" }).toString(),
    );
    await expect(createAuthenticator(adminSettings({ publicKeyFile }))).resolves.toBeDefined();
  });

  const bad: [string, () => string, RegExp][] = [
    ["a private key", () => fx.keys[0]!.pkcs8, /private key/],
    ["not a key", () => "hello", /ADMIN_PUBLIC_KEY_FILE/],
    ["a P-384 key", () => pemOf(generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey), /secp384r1/],
    [
      "a 1024-bit RSA key",
      () => pemOf(generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey),
      /2048/,
    ],
  ];

  it.each(bad)("stops startup naming ADMIN_PUBLIC_KEY_FILE for %s", async (_name, content, problem) => {
    const publicKeyFile = await fx.dir.write("bad.pem", content());
    const err: unknown = await createAuthenticator(adminSettings({ publicKeyFile })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SettingsError);
    expect((err as Error).message).toMatch(/ADMIN_PUBLIC_KEY_FILE/);
    expect((err as Error).message).toMatch(problem);
  });
});

function pemOf(key: { export(options: { type: "spki"; format: "pem" }): string | Buffer }): string {
  return key.export({ type: "spki", format: "pem" }).toString();
}

describe("JWKS URL", () => {
  let server: JwksServer;

  async function urlAuth(options: AuthenticatorOptions) {
    server = new JwksServer();
    server.served = fx.keys.map((k) => k.jwk);
    const jwksUrl = await server.start();
    return createAuthenticator(adminSettings({ jwksUrl }), options);
  }

  afterEach(async () => {
    await server.stop();
  });

  const COOLDOWN_MS = 500;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it("fetches once for many verifications, and refetches on an unknown kid at most once per cooldown", async () => {
    const auth = await urlAuth({ cooldownMs: COOLDOWN_MS });
    expect(server.fetches).toBe(0); // nothing is fetched before the first token
    for (let i = 0; i < 10; i += 1) {
      const key = fx.keys[i % fx.keys.length]!;
      await expect(auth.authenticate(bearer(await sign(key, claims())), "read")).resolves.toMatchObject(
        EXPECTED,
      );
    }
    expect(server.fetches).toBe(1);

    const unknown = bearer(await sign(fx.keys[0]!, claims(), { kid: "k-unknown" }));
    await expectAuthFailure(auth.authenticate(unknown, "read"), "unknown_key");
    expect(server.fetches).toBe(1); // still cooling down after the first fetch

    await sleep(COOLDOWN_MS + 100);
    for (let i = 0; i < 3; i += 1) await expectAuthFailure(auth.authenticate(unknown, "read"), "unknown_key");
    expect(server.fetches).toBe(2);
  });

  it("picks up a rotated-in key after the cooldown", async () => {
    const auth = await urlAuth({ cooldownMs: COOLDOWN_MS });
    await auth.authenticate(bearer(await sign(fx.keys[0]!, claims())), "read");
    const rotated = await makeKey("ES256", "k-new");
    server.served = [...server.served, rotated.jwk];
    await sleep(COOLDOWN_MS + 100);
    await expect(auth.authenticate(bearer(await sign(rotated, claims())), "read")).resolves.toMatchObject(
      EXPECTED,
    );
    expect(server.fetches).toBe(2);
  });

  it("reports an endpoint error as key_source", async () => {
    const auth = await urlAuth({});
    server.mode = "error";
    await expectAuthFailure(
      auth.authenticate(bearer(await sign(fx.keys[0]!, claims())), "read"),
      "key_source",
    );
  });

  it("gives up on a hanging endpoint after the fetch timeout", async () => {
    const auth = await urlAuth({ fetchTimeoutMs: 200 });
    server.mode = "hang";
    const started = Date.now();
    await expectAuthFailure(
      auth.authenticate(bearer(await sign(fx.keys[0]!, claims())), "read"),
      "key_source",
    );
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("reports an unreachable endpoint as key_source", async () => {
    const auth = await urlAuth({});
    await server.stop();
    await expectAuthFailure(
      auth.authenticate(bearer(await sign(fx.keys[0]!, claims())), "read"),
      "key_source",
    );
    server = new JwksServer(); // afterEach stops this unstarted one harmlessly
  });
});
