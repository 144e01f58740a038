import type { Settings } from "../config/settings.js";
import type { TlsMaterial } from "../config/tls-material.js";
import { loadTlsMaterial } from "../config/tls-material.js";
import type { WatchedTls } from "../config/tls-watcher.js";
import { watchTls } from "../config/tls-watcher.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";

/**
 * TLS for the listeners, in two steps: `loadListenerTls` first, so that a bad file stops the
 * start before anything connects (the message names the variable); `watchListenerTls` once the
 * listeners are about to open, so that a rotation reaches them without a restart. A rotation that
 * fails is logged and counted, and the previous certificate stays in force.
 */
export async function loadListenerTls(settings: Settings): Promise<TlsMaterial | undefined> {
  return settings.tls === undefined ? undefined : loadTlsMaterial(settings.tls);
}

interface Deps {
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, "tlsReloads" | "tlsCertificateExpiry">;
}

const seconds = (date: Date): number => date.getTime() / 1000;

export function watchListenerTls(
  settings: Settings,
  initial: TlsMaterial | undefined,
  deps: Deps,
): WatchedTls | undefined {
  if (settings.tls === undefined || initial === undefined) return undefined;
  const { logger, metrics } = deps;
  metrics.tlsCertificateExpiry.set(seconds(initial.notAfter));
  return watchTls({
    files: settings.tls,
    initial,
    onReload: (material) => {
      metrics.tlsReloads.inc({ result: "success" });
      metrics.tlsCertificateExpiry.set(seconds(material.notAfter));
      logger.info({ notAfter: material.notAfter.toISOString() }, "TLS certificate reloaded");
    },
    onError: (err) => {
      metrics.tlsReloads.inc({ result: "error" });
      logger.error(
        { err: err instanceof Error ? err.message : String(err) },
        "TLS reload failed; the previous certificate stays in force",
      );
    },
  });
}
