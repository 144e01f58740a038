import { createPrivateKey, createPublicKey } from "node:crypto";
import type { KeyObject } from "node:crypto";

/**
 * The only JWS algorithms Floodgate accepts or produces (docs/admin-auth.md). All asymmetric: a verifier
 * that holds only public keys can never be tricked into HMAC with a public key as the secret.
 * PS256/ES384 are left out on purpose: nobody asked for them, and every extra algorithm is
 * extra attack surface. `EdDSA` means Ed25519 here (jose's reading of RFC 8037).
 */
export const ALLOWED_ALGORITHMS = ["RS256", "ES256", "EdDSA"] as const;
export type SigningAlgorithm = (typeof ALLOWED_ALGORITHMS)[number];

/** jose refuses smaller RSA keys at verify time; we say so at startup instead. */
const MIN_RSA_BITS = 2048;

export function isSigningAlgorithm(value: unknown): value is SigningAlgorithm {
  return typeof value === "string" && (ALLOWED_ALGORITHMS as readonly string[]).includes(value);
}

/** RSA → RS256, EC P-256 → ES256, Ed25519 → EdDSA; throws (with a reason) for anything else. */
export function algorithmForKey(key: KeyObject): SigningAlgorithm {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails;
  if (type === "rsa") {
    const bits = details?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new Error(`RSA key has ${bits} bits; at least ${MIN_RSA_BITS} required`);
    return "RS256";
  }
  if (type === "ec" && details?.namedCurve === "prime256v1") return "ES256";
  if (type === "ed25519") return "EdDSA";
  const curve = details?.namedCurve === undefined ? "" : ` (${details.namedCurve})`;
  throw new Error(`unsupported key type ${type ?? "unknown"}${curve}; use RSA, EC P-256 or Ed25519`);
}

export interface NormalizedKey {
  /** The same key re-encoded as SPKI or PKCS#8 PEM, the only forms jose imports. */
  readonly pem: string;
  readonly alg: SigningAlgorithm;
}

/**
 * Parses any public-key PEM Node understands (SPKI, PKCS#1 RSA) and refuses private keys:
 * a private key in the server's configuration is a misconfiguration worth stopping for.
 */
export function normalizePublicPem(text: string): NormalizedKey {
  if (text.includes("PRIVATE KEY")) throw new Error("expected a public key, found a private key");
  const key = createPublicKey({ key: text, format: "pem" });
  return { pem: key.export({ type: "spki", format: "pem" }).toString(), alg: algorithmForKey(key) };
}

/** Parses PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private-key PEM, as `openssl` writes them. */
export function normalizePrivatePem(text: string): NormalizedKey {
  const key = createPrivateKey({ key: text, format: "pem" });
  return { pem: key.export({ type: "pkcs8", format: "pem" }).toString(), alg: algorithmForKey(key) };
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The message and, when there is one, its cause's: "fetch failed (connect ECONNREFUSED …)". */
export function errorWithCause(err: unknown): string {
  const cause = err instanceof Error && err.cause !== undefined ? ` (${errorMessage(err.cause)})` : "";
  return `${errorMessage(err)}${cause}`;
}
