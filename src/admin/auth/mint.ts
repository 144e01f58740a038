import { randomUUID } from "node:crypto";
import { SignJWT, calculateJwkThumbprint, exportJWK, importPKCS8, importSPKI } from "jose";
import type { JSONWebKeySet, JWTPayload } from "jose";
import { errorMessage, normalizePrivatePem, normalizePublicPem } from "./keys.js";
import type { NormalizedKey, SigningAlgorithm } from "./keys.js";

/**
 * Operator tooling behind `floodgate admin token` and `floodgate admin jwks`: mint a short-lived
 * admin JWT from a private key, and publish a public key as a JWKS. The tokens are exactly what
 * createAuthenticator accepts (docs/admin-auth.md).
 */

/** A problem with the operator's input; the CLI prints the message without a stack trace. */
export class MintError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MintError";
  }
}

export interface MintOptions {
  /** PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM; unencrypted. */
  readonly privateKeyPem: string;
  /** Checked against the key; inferred from it when absent (RSA, EC P-256, Ed25519). */
  readonly alg?: SigningAlgorithm;
  /** Needed when the server uses a JWKS holding several keys. */
  readonly kid?: string;
  readonly issuer: string;
  readonly audience: string;
  readonly subject: string;
  /** Written as the OAuth `scope` claim (space-separated); omitted when empty. */
  readonly scopes: readonly string[];
  /** Must not exceed the server's ADMIN_JWT_MAX_LIFETIME_S, or the token is refused. */
  readonly ttlSeconds: number;
  /** Recorded in the audit log; a random UUID by default. */
  readonly jti?: string;
}

export async function mintToken(options: MintOptions): Promise<string> {
  checkMintOptions(options);
  const { pem, alg } = readKey(() => normalizePrivatePem(options.privateKeyPem), "private");
  if (options.alg !== undefined && options.alg !== alg) {
    throw new MintError(`alg ${options.alg} does not match the private key, which needs ${alg}`);
  }
  const key = await importPKCS8(pem, alg);
  const now = Math.floor(Date.now() / 1000);
  const claims: JWTPayload = options.scopes.length > 0 ? { scope: options.scopes.join(" ") } : {};
  return new SignJWT(claims)
    .setProtectedHeader(
      options.kid === undefined ? { alg, typ: "JWT" } : { alg, typ: "JWT", kid: options.kid },
    )
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setSubject(options.subject)
    .setIssuedAt(now)
    .setExpirationTime(now + options.ttlSeconds)
    .setJti(options.jti ?? randomUUID())
    .sign(key);
}

/**
 * A one-key JWKS for a public key PEM, ready for ADMIN_JWKS_FILE. Without a `kid`, the RFC 7638
 * thumbprint is used, so the same key always gets the same id.
 */
export async function jwksFromPublicKeyPem(publicKeyPem: string, kid?: string): Promise<JSONWebKeySet> {
  const { pem, alg } = readKey(() => normalizePublicPem(publicKeyPem), "public");
  const jwk = await exportJWK(await importSPKI(pem, alg, { extractable: true }));
  const id = kid ?? (await calculateJwkThumbprint(jwk));
  return { keys: [{ ...jwk, kid: id, alg, use: "sig" }] };
}

function readKey(read: () => NormalizedKey, kind: "private" | "public"): NormalizedKey {
  try {
    return read();
  } catch (err) {
    throw new MintError(`cannot use the ${kind} key: ${errorMessage(err)}`);
  }
}

function checkMintOptions(options: MintOptions): void {
  for (const field of ["issuer", "audience", "subject"] as const) {
    if (options[field].trim() === "") throw new MintError(`${field} must not be empty`);
  }
  if (!Number.isInteger(options.ttlSeconds) || options.ttlSeconds < 1) {
    throw new MintError("ttlSeconds must be a positive integer");
  }
  // A space would split one scope into two on the server.
  const bad = options.scopes.find((scope) => scope === "" || /\s/.test(scope));
  if (bad !== undefined) throw new MintError(`invalid scope ${JSON.stringify(bad)}`);
  if (options.kid === "" || options.jti === "") throw new MintError("kid and jti must not be empty");
}
