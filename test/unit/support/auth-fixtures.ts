import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT, exportJWK, exportPKCS8, exportSPKI, generateKeyPair } from "jose";
import type { CryptoKey, JWK, JWTPayload } from "jose";
import { expect } from "vitest";
import type { AdminSettings } from "../../../src/config/settings.js";
import type { SigningAlgorithm } from "../../../src/admin/auth/keys.js";
import { AuthError, UNAUTHENTICATED_MESSAGE } from "../../../src/admin/auth/types.js";
import type { AuthFailure } from "../../../src/admin/auth/types.js";
import { useFixture } from "../../harness/fixture.js";

/** Shared by the auth and mint tests: real keys, real files, no mocks. */

export const ISSUER = "https://issuer.test";
export const AUDIENCE = "floodgate-test";
export const MAX_LIFETIME_S = 600;
export const TOLERANCE_S = 30;

export interface TestKey {
  readonly alg: SigningAlgorithm;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** SPKI PEM of the public key, PKCS#8 PEM of the private key. */
  readonly spki: string;
  readonly pkcs8: string;
  /** The public JWK, with kid, alg and use. */
  readonly jwk: JWK;
}

export async function makeKey(alg: SigningAlgorithm, kid: string): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return {
    alg,
    kid,
    privateKey,
    spki: await exportSPKI(publicKey),
    pkcs8: await exportPKCS8(privateKey),
    jwk,
  };
}

export function adminSettings(overrides: Partial<AdminSettings>): AdminSettings {
  return {
    jwksFile: undefined,
    jwksUrl: undefined,
    publicKeyFile: undefined,
    issuer: ISSUER,
    audience: AUDIENCE,
    maxLifetimeS: MAX_LIFETIME_S,
    clockToleranceS: TOLERANCE_S,
    ...overrides,
  };
}

export const now = (): number => Math.floor(Date.now() / 1000);

/** A valid claim set; pass `undefined` for a claim to leave it out. */
export function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const t = now();
  const base: Record<string, unknown> = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: "alice",
    iat: t,
    exp: t + 300,
    jti: "jti-1",
    scope: "floodgate:admin",
    ...overrides,
  };
  return Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined));
}

/**
 * Signs any claim set (even an invalid one); `kid: null` leaves the kid out of the header, and
 * `critical` adds JWS extension parameters listed in `crit` (RFC 7515 §4.1.11).
 */
export async function sign(
  key: TestKey,
  payload: JWTPayload,
  header: { kid?: string | null; critical?: Record<string, unknown> } = {},
): Promise<string> {
  const kid = header.kid === undefined ? key.kid : header.kid;
  const critical = header.critical ?? {};
  const names = Object.keys(critical);
  const extensions = names.length === 0 ? {} : { ...critical, crit: names };
  return new SignJWT(payload)
    .setProtectedHeader(kid === null ? { alg: key.alg, ...extensions } : { alg: key.alg, kid, ...extensions })
    .sign(key.privateKey, { crit: Object.fromEntries(names.map((name) => [name, true])) });
}

export const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

/** `alg: none`, built by hand: no library will produce one. */
export function unsecuredToken(payload: JWTPayload): string {
  return `${b64url({ alg: "none", typ: "JWT" })}.${b64url(payload)}.`;
}

/** The key-confusion attack: HS256 keyed with the verifier's own public key bytes. */
export function hs256WithPublicKey(key: TestKey, payload: JWTPayload): string {
  const input = `${b64url({ alg: "HS256", typ: "JWT", kid: key.kid })}.${b64url(payload)}`;
  return `${input}.${createHmac("sha256", key.spki).update(input).digest("base64url")}`;
}

export const bearer = (token: string): string => `Bearer ${token}`;

/** Every refusal must look the same to the client; only `reason` (log and metric) differs. */
export async function expectAuthFailure(promise: Promise<unknown>, reason: AuthFailure): Promise<void> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a refusal with reason ${reason}`).toBeInstanceOf(AuthError);
  const authError = err as AuthError;
  expect({ reason: authError.reason, detail: authError.detail }).toMatchObject({ reason });
  expect(authError.message).toBe(UNAUTHENTICATED_MESSAGE);
  expect(authError.code).toBe("UNAUTHENTICATED");
}

/** A mkdtemp directory; `cleanup()` removes it. */
export class TempDir {
  private constructor(readonly path: string) {}

  static async create(): Promise<TempDir> {
    return new TempDir(await mkdtemp(join(tmpdir(), "floodgate-auth-")));
  }

  async write(name: string, content: string): Promise<string> {
    const path = join(this.path, name);
    await writeFile(path, content);
    return path;
  }

  async cleanup(): Promise<void> {
    await rm(this.path, { recursive: true, force: true });
  }
}

export interface KeyFixture {
  readonly dir: TempDir;
  /** RS256 (kid k-rs), ES256 (k-es) and EdDSA (k-ed), in that order. */
  readonly keys: TestKey[];
}

/** For a test file: three keys and a temp directory, made in beforeAll and removed in afterAll. */
export function useKeyFixture(): KeyFixture {
  return useFixture(
    async () => {
      const keys = [
        await makeKey("RS256", "k-rs"),
        await makeKey("ES256", "k-es"),
        await makeKey("EdDSA", "k-ed"),
      ];
      return { keys, dir: await TempDir.create() };
    },
    (fixture) => fixture.dir.cleanup(),
  );
}

/** A JWKS endpoint on 127.0.0.1:0 that counts fetches; `mode` makes it fail on purpose. */
export class JwksServer {
  fetches = 0;
  served: JWK[] = [];
  mode: "ok" | "error" | "hang" = "ok";
  private readonly server: Server = createServer((_req, res) => {
    this.fetches += 1;
    if (this.mode === "hang") return;
    res.writeHead(this.mode === "ok" ? 200 : 500, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: this.served }));
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks.json`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
