import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toTlsMaterial } from "../../src/config/tls-material.js";
import type { ListenerTlsFiles } from "../harness/listener-tls.js";
import { generateListenerTlsFiles } from "../harness/listener-tls.js";

/** What a rotation may find on disk, checked before anything is served (certificates: openssl). */
describe("TLS material checks", () => {
  let files: ListenerTlsFiles;
  let cert: Buffer;
  let key: Buffer;
  let ca: Buffer;
  beforeAll(async () => {
    files = await generateListenerTlsFiles();
    cert = readFileSync(files.serverCert);
    key = readFileSync(files.serverKey);
    ca = readFileSync(files.caCert);
  });
  afterAll(async () => files?.remove());

  const problem = (bytes: Parameters<typeof toTlsMaterial>[0]): string => {
    try {
      toTlsMaterial(bytes);
    } catch (error) {
      return (error as Error).message;
    }
    return "accepted";
  };

  it("accepts a certificate with its chain and a CA bundle, and reads the expiry", () => {
    const chain = Buffer.concat([cert, ca]);
    const bundle = Buffer.concat([ca, readFileSync(files.otherCaCert)]);
    const material = toTlsMaterial({ cert: chain, key, clientCa: bundle });
    expect(material.notAfter.getTime()).toBe(new Date(new X509Certificate(cert).validTo).getTime());
    expect(material.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it("refuses a chain whose last certificate is cut short", () => {
    const caText = ca.toString("latin1");
    const cut = Buffer.concat([cert, Buffer.from(caText.slice(0, caText.length - 40), "latin1")]);
    expect(problem({ cert: cut, key, clientCa: undefined })).toMatch(
      /TLS_CERT_FILE: holds a PEM block that is cut short/,
    );
  });

  it("refuses a client CA bundle that holds nothing, or a damaged certificate", () => {
    expect(problem({ cert, key, clientCa: Buffer.from("\n") })).toMatch(
      /TLS_CLIENT_CA_FILE: holds no PEM certificate/,
    );
    // The first base64 line of the body zeroed: still PEM, no longer DER.
    const lines = ca.toString("latin1").split("\n");
    lines[1] = "A".repeat(lines[1]!.length);
    const damaged = Buffer.from(lines.join("\n"), "latin1");
    expect(problem({ cert, key, clientCa: damaged })).toMatch(
      /TLS_CLIENT_CA_FILE: holds a certificate that does not parse/,
    );
  });

  it("never echoes the bytes it refuses", () => {
    const secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
    expect(problem({ cert, key: Buffer.from(secret), clientCa: undefined })).not.toContain("c2VjcmV0");
  });
});
