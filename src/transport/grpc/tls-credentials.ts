import { experimental, ServerCredentials } from "@grpc/grpc-js";
import type { TlsMaterial } from "../../config/tls-material.js";
import type { TlsSource } from "../../config/tls-watcher.js";

type IdentityListener = experimental.IdentityCertificateUpdateListener;
type CaListener = experimental.CaCertificateUpdateListener;

/**
 * Feeds grpc-js from the one TLS source both listeners share: a rotation reaches the gRPC
 * listeners through it (grpc-js calls setSecureContext, so new connections get the new
 * certificate and open ones keep theirs). Only checked material ever reaches grpc-js: an update
 * it cannot use would make it drop every new connection.
 */
class SourceCertificateProvider implements experimental.CertificateProvider {
  readonly #source: TlsSource;
  readonly #identity = new Set<IdentityListener>();
  readonly #ca = new Set<CaListener>();
  #unsubscribe: (() => void) | undefined;

  constructor(source: TlsSource) {
    this.#source = source;
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#ca.add(listener);
    this.#follow();
    // Asynchronously, as grpc-js's own provider does: it registers its watcher after this call.
    process.nextTick(() => listener(caUpdate(this.#source.current())));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#ca.delete(listener);
    this.#unfollowIfUnused();
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identity.add(listener);
    this.#follow();
    process.nextTick(() => listener(identityUpdate(this.#source.current())));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identity.delete(listener);
    this.#unfollowIfUnused();
  }

  #follow(): void {
    this.#unsubscribe ??= this.#source.subscribe((material) => {
      for (const listener of this.#identity) listener(identityUpdate(material));
      for (const listener of this.#ca) listener(caUpdate(material));
    });
  }

  #unfollowIfUnused(): void {
    if (this.#identity.size > 0 || this.#ca.size > 0) return;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }
}

function identityUpdate(material: TlsMaterial): experimental.IdentityCertificateUpdate {
  return { certificate: material.cert, privateKey: material.key };
}

function caUpdate(material: TlsMaterial): experimental.CaCertificateUpdate | null {
  return material.clientCa === undefined ? null : { caCertificate: material.clientCa };
}

/** Plain text without a source; TLS with it, and mTLS when it holds a client CA. */
export function serverCredentials(source: TlsSource | undefined): ServerCredentials {
  if (source === undefined) return ServerCredentials.createInsecure();
  const provider = new SourceCertificateProvider(source);
  const mutual = source.current().clientCa !== undefined;
  // grpc-js 1.14 takes the first argument as the identity provider and the second as the CA
  // provider (null: no client certificates), whatever its parameter names say. The TLS and mTLS
  // tests (test/integration/listener-tls.test.ts) fail if a later version changes that.
  return experimental.createCertificateProviderServerCredentials(provider, mutual ? provider : null, mutual);
}
