import { createPublicKey } from "node:crypto";
import type { JsonWebKey } from "node:crypto";
import { createLocalJWKSet, importSPKI, jwtVerify } from "jose";
import type { JSONWebKeySet, JWTPayload, JWTVerifyOptions } from "jose";
import { readSettingFile } from "../../config/setting-files.js";
import { SettingsError } from "../../config/settings.js";
import type { AdminSettings } from "../../config/settings.js";
import type { JwksUrlOptions } from "./jwks-url.js";
import { remoteKeySet } from "./jwks-url.js";
import { ALLOWED_ALGORITHMS, algorithmForKey, errorMessage, normalizePublicPem } from "./keys.js";
import type { SigningAlgorithm } from "./keys.js";

/** Where the admin API's verification keys come from: exactly one of three settings. */
export interface KeySource {
  readonly algorithms: readonly SigningAlgorithm[];
  readonly verify: (token: string, options: JWTVerifyOptions) => Promise<JWTPayload>;
}

export async function loadKeySource(settings: AdminSettings, urlOptions: JwksUrlOptions): Promise<KeySource> {
  if (settings.jwksFile !== undefined) return jwksFileSource(settings.jwksFile);
  if (settings.jwksUrl !== undefined) return jwksUrlSource(settings.jwksUrl, urlOptions);
  // Settings guarantee exactly one source whenever admin is on (settings-checks.ts).
  return publicKeySource(settings.publicKeyFile!);
}

/**
 * Reads a key file (an unreadable file is readSettingFile's error) and parses it; a file that does
 * not parse stops the process with a message naming the variable and the path.
 */
async function readKeyFile<T>(
  variable: string,
  path: string,
  parse: (text: string) => Promise<T> | T,
): Promise<T> {
  const text = (await readSettingFile(variable, path)).toString("utf8");
  try {
    return await parse(text);
  } catch (err) {
    throw new SettingsError([`${variable}: ${path}: ${errorMessage(err)}`]);
  }
}

/** Read once at startup: rotating keys means a restart (or use ADMIN_JWKS_URL). */
async function jwksFileSource(path: string): Promise<KeySource> {
  const jwks = await readKeyFile("ADMIN_JWKS_FILE", path, (text) => checkJwks(JSON.parse(text)));
  const getKey = createLocalJWKSet(jwks);
  return {
    algorithms: ALLOWED_ALGORITHMS,
    verify: async (token, options) => (await jwtVerify(token, getKey, options)).payload,
  };
}

/** Fetched on the first admin call, cached, refetched with backoff (jwks-url.ts). */
function jwksUrlSource(url: string, options: JwksUrlOptions): KeySource {
  const getKey = remoteKeySet(url, options);
  return {
    algorithms: ALLOWED_ALGORITHMS,
    verify: async (token, verifyOptions) => (await jwtVerify(token, getKey, verifyOptions)).payload,
  };
}

/** One key, one algorithm (inferred from the key); a `kid` in the token is irrelevant and ignored. */
async function publicKeySource(path: string): Promise<KeySource> {
  const { key, alg } = await readKeyFile("ADMIN_PUBLIC_KEY_FILE", path, async (text) => {
    const normalized = normalizePublicPem(text);
    return { key: await importSPKI(normalized.pem, normalized.alg), alg: normalized.alg };
  });
  return {
    algorithms: [alg],
    verify: async (token, options) => (await jwtVerify(token, key, options)).payload,
  };
}

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/**
 * The JWKS file is curated for Floodgate, so be strict: every key must be a public signing key
 * of an allowed type. A private or symmetric key in it is a leak or a mistake, never ignored.
 */
function checkJwks(value: unknown): JSONWebKeySet {
  const keys: unknown = isRecord(value) ? value.keys : undefined;
  if (!Array.isArray(keys) || keys.length === 0)
    throw new Error('expected {"keys": [...]} with at least one key');
  keys.forEach((jwk: unknown, index) => {
    const label = `key ${index}${isRecord(jwk) && typeof jwk.kid === "string" ? ` (kid ${jwk.kid})` : ""}`;
    try {
      checkJwk(jwk);
    } catch (err) {
      throw new Error(`${label}: ${errorMessage(err)}`);
    }
  });
  return value as JSONWebKeySet;
}

function checkJwk(jwk: unknown): void {
  if (!isRecord(jwk)) throw new Error("not a JSON object");
  if (PRIVATE_MEMBERS.some((member) => member in jwk)) {
    throw new Error("contains private or secret key material; publish public keys only");
  }
  if (jwk.use !== undefined && jwk.use !== "sig") throw new Error('"use" must be "sig"');
  const alg = algorithmForKey(createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }));
  if (jwk.alg !== undefined && jwk.alg !== alg) {
    throw new Error(`"alg" ${JSON.stringify(jwk.alg)} is not allowed for this key; use ${alg}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
