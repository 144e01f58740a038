import type { FSWatcher } from "chokidar";
import { startFsWatcher } from "./rules-watcher.js";
import type { ListenerTlsFiles } from "./settings.js";
import type { TlsMaterial } from "./tls-material.js";
import { fingerprintOf, readTlsFiles, toTlsMaterial } from "./tls-material.js";

/** The TLS material in force, for the listeners: what to serve now, and every replacement. */
export interface TlsSource {
  current(): TlsMaterial;
  /** `listener` gets each material that replaces the current one; call the result to stop. */
  subscribe(listener: (material: TlsMaterial) => void): () => void;
}

export interface WatchTlsOptions {
  readonly files: ListenerTlsFiles;
  /** What loadTlsMaterial read at startup: in force until a good rotation replaces it. */
  readonly initial: TlsMaterial;
  readonly onReload: (material: TlsMaterial) => void;
  /** A rotation that failed; the previous material stays in force. */
  readonly onError: (err: unknown) => void;
  readonly debounceMs?: number;
  readonly pollMs?: number;
  /** How long new bad bytes may take to become good before the failure is reported. */
  readonly settleMs?: number;
}

export interface WatchedTls extends TlsSource {
  /** Resolves once the file-system watchers have scanned their directories. */
  readonly ready: Promise<void>;
  /** Stops watching and polling; no callback runs after the returned promise resolves. */
  close(): Promise<void>;
}

const DEFAULT_DEBOUNCE_MS = 200;
const DEFAULT_POLL_MS = 2000;
const DEFAULT_SETTLE_MS = 1000;
const SETTLE_MARGIN_MS = 50;

/**
 * Re-reads TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE whenever they change. cert-manager
 * rewrites the files in place, and a mounted Secret changes by the atomic `..data` symlink swap:
 * as for the rules (rules-watcher.ts), file events give a fast reload and a poll catches what
 * events miss (a change made since `initial` was read included).
 */
export function watchTls(options: WatchTlsOptions): WatchedTls {
  const reloader = new TlsReloader(options.initial, options);
  const { certFile, keyFile, clientCaFile } = options.files;
  const watchers: FSWatcher[] = [
    certFile,
    keyFile,
    ...(clientCaFile === undefined ? [] : [clientCaFile]),
  ].map((path) => startFsWatcher(path, () => reloader.onEvent()));
  for (const watcher of watchers) watcher.on("error", (err) => reloader.report(err));
  const ready = Promise.all(
    watchers.map((w) => new Promise<void>((resolve) => w.once("ready", () => resolve()))),
  ).then(() => undefined);
  reloader.start();
  return {
    ready,
    current: () => reloader.current(),
    subscribe: (listener) => reloader.subscribe(listener),
    async close() {
      await reloader.stop();
      await Promise.all(watchers.map((w) => w.close()));
    },
  };
}

/**
 * One check at a time; requests arriving meanwhile collapse into one follow-up. A check swaps in
 * material only once it is complete and consistent. Bytes that fail are given `settleMs` to
 * become good (a file caught half-written, or a new certificate whose key is not written yet)
 * before the failure is reported, once for those bytes: a check that sees them again after that
 * reports, and one is scheduled for it.
 */
class TlsReloader {
  readonly #options: WatchTlsOptions;
  readonly #listeners = new Set<(material: TlsMaterial) => void>();
  #current: TlsMaterial;
  #failed: { seen: string; since: number; reported: boolean } | undefined;
  #closed = false;
  #again = false;
  #running: Promise<void> | undefined;
  #eventTimer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;

  constructor(initial: TlsMaterial, options: WatchTlsOptions) {
    this.#current = initial;
    this.#options = options;
  }

  current(): TlsMaterial {
    return this.#current;
  }

  subscribe(listener: (material: TlsMaterial) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  start(): void {
    this.#poll = setInterval(() => this.request(), this.#options.pollMs ?? DEFAULT_POLL_MS);
    this.#poll.unref();
  }

  async stop(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poll);
    clearTimeout(this.#eventTimer);
    clearTimeout(this.#settleTimer);
    await this.#running;
  }

  /** A burst of file events (one write is several) makes one check, once it has been quiet. */
  onEvent(): void {
    clearTimeout(this.#eventTimer);
    this.#eventTimer = this.#later(this.#options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  }

  report(err: unknown): void {
    if (this.#closed) return;
    try {
      this.#options.onError(err);
    } catch {
      // A throwing onError must not stop the watcher; there is nobody left to tell.
    }
  }

  #later(ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.request(), ms);
    timer.unref();
    return timer;
  }

  request(): void {
    if (this.#closed) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#drain();
  }

  async #drain(): Promise<void> {
    do {
      this.#again = false;
      await this.#check();
    } while (this.#again && !this.#closed);
    this.#running = undefined;
  }

  async #check(): Promise<void> {
    let material: TlsMaterial;
    let seen = "unreadable";
    try {
      const bytes = await readTlsFiles(this.#options.files);
      seen = fingerprintOf(bytes);
      if (seen === this.#current.fingerprint) {
        this.#failed = undefined;
        return;
      }
      material = toTlsMaterial(bytes);
    } catch (err) {
      return this.#fail(seen === "unreadable" ? `unreadable:${String(err)}` : seen, err);
    }
    this.#swap(material);
  }

  #fail(seen: string, err: unknown): void {
    const settleMs = this.#options.settleMs ?? DEFAULT_SETTLE_MS;
    if (this.#failed?.seen !== seen) {
      this.#failed = { seen, since: performance.now(), reported: false };
      clearTimeout(this.#settleTimer);
      // A little past settleMs, so that the check it makes finds them settled.
      this.#settleTimer = this.#later(settleMs + SETTLE_MARGIN_MS);
      return;
    }
    if (this.#failed.reported || performance.now() - this.#failed.since < settleMs) return;
    this.#failed.reported = true;
    this.report(err);
  }

  #swap(material: TlsMaterial): void {
    if (this.#closed) return;
    this.#current = material;
    this.#failed = undefined;
    for (const listener of this.#listeners) {
      try {
        listener(material);
      } catch (err) {
        this.report(err);
      }
    }
    try {
      this.#options.onReload(material);
    } catch (err) {
      this.report(err);
    }
  }
}
