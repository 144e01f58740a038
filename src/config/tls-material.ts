import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { createSecureContext } from "node:tls";
import type { ListenerTlsFiles } from "./settings.js";
import { SettingsError } from "./settings.js";
import { readSettingFile } from "./setting-files.js";

/** The bytes of TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE, as read, not yet checked. */
export interface TlsFileBytes {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | undefined;
}

/** What both listeners serve: checked together, swapped together. */
export interface TlsMaterial extends TlsFileBytes {
  /** When the serving certificate expires (floodgate_tls_certificate_expiry_timestamp_seconds). */
  readonly notAfter: Date;
  /** Identifies these bytes, so that an unchanged file is not reloaded. */
  readonly fingerprint: string;
}

function problem(variable: string, message: string): SettingsError {
  return new SettingsError([`${variable}: ${message}`]);
}

export async function readTlsFiles(files: ListenerTlsFiles): Promise<TlsFileBytes> {
  const [cert, key, clientCa] = await Promise.all([
    readSettingFile("TLS_CERT_FILE", files.certFile),
    readSettingFile("TLS_KEY_FILE", files.keyFile),
    files.clientCaFile === undefined ? undefined : readSettingFile("TLS_CLIENT_CA_FILE", files.clientCaFile),
  ]);
  return { cert, key, clientCa };
}

export function fingerprintOf(bytes: TlsFileBytes): string {
  const hash = createHash("sha256");
  for (const part of [bytes.cert, bytes.key, bytes.clientCa ?? Buffer.alloc(0)]) {
    hash.update(`${part.length}\0`);
    hash.update(part);
  }
  return hash.digest("hex");
}

const PEM_BEGIN = /-----BEGIN [^-]+-----/g;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Every certificate of a PEM bundle. A block cut short (a file caught while being written) or
 * one that does not parse makes the whole file bad: a chain missing its tail would be served.
 */
function certificates(variable: string, pem: Buffer): X509Certificate[] {
  const text = pem.toString("latin1");
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length !== (text.match(PEM_BEGIN) ?? []).length) {
    throw problem(variable, "holds a PEM block that is cut short or is not a certificate");
  }
  if (blocks.length === 0) throw problem(variable, "holds no PEM certificate");
  try {
    return blocks.map((block) => new X509Certificate(block));
  } catch {
    throw problem(variable, "holds a certificate that does not parse");
  }
}

function privateKey(pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    throw problem("TLS_KEY_FILE", "is not a readable, unencrypted PEM private key");
  }
}

/**
 * Checks what was read: the certificate chain parses, the key is the certificate's, the client
 * CA bundle parses, and Node builds a TLS context from them. Errors name the variable, never the
 * bytes.
 */
export function toTlsMaterial(bytes: TlsFileBytes): TlsMaterial {
  const [leaf] = certificates("TLS_CERT_FILE", bytes.cert);
  if (!leaf!.checkPrivateKey(privateKey(bytes.key))) {
    throw problem("TLS_KEY_FILE", "does not match the certificate of TLS_CERT_FILE");
  }
  if (bytes.clientCa !== undefined) certificates("TLS_CLIENT_CA_FILE", bytes.clientCa);
  try {
    createSecureContext({ cert: bytes.cert, key: bytes.key, ca: bytes.clientCa });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw problem("TLS_CERT_FILE", `cannot be served with TLS_KEY_FILE (${reason})`);
  }
  return { ...bytes, notAfter: new Date(leaf!.validTo), fingerprint: fingerprintOf(bytes) };
}

/** Startup: read and check, or fail with a message that names the variable. */
export async function loadTlsMaterial(files: ListenerTlsFiles): Promise<TlsMaterial> {
  return toTlsMaterial(await readTlsFiles(files));
}
