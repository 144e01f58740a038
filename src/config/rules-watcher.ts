import { statSync } from "node:fs";
import { basename, dirname } from "node:path";
import { watch } from "chokidar";
import type { FSWatcher } from "chokidar";
import type { RuleSet } from "../domain/rules.js";
import { buildRuleSet } from "./rules-loader.js";
import type { LoadedRules, RuleIssue, RulesLoadOptions } from "./rules-loader.js";
import { digestFiles, readRulesFiles } from "./rules-files.js";
import type { RulesFile } from "./rules-files.js";

export interface WatchRulesOptions {
  readonly path: string;
  /** How to load the files (MERGE_DOMAIN_CONFIG); the same as for the first load. */
  readonly load?: RulesLoadOptions;
  /**
   * Called with a new RuleSet whenever the files' digest changes and they load cleanly, with the
   * load's warnings (keys that have no effect).
   */
  readonly onReload: (rules: RuleSet, warnings: readonly RuleIssue[]) => void;
  /** Called when a reload fails; the caller keeps its previous RuleSet. */
  readonly onError: (err: unknown) => void;
  readonly debounceMs?: number;
  readonly pollMs?: number;
  /**
   * The digest of the RuleSet the caller already holds. Without it, the watcher takes the digest
   * of the files as they are when it starts, and an edit made between the caller's load and the
   * watcher's start would go unnoticed until the next change.
   */
  readonly initialDigest?: string;
}

export interface RulesWatcher {
  /** Resolves once the file-system watcher has scanned the directory. */
  readonly ready: Promise<void>;
  /** Stops watching and polling; no callback runs after the returned promise resolves. */
  close(): Promise<void>;
}

const DEFAULT_DEBOUNCE_MS = 200;
const DEFAULT_POLL_MS = 2000;

/**
 * Why events AND polling: inotify sees in-place edits and added or removed files at once, but the
 * Kubernetes ConfigMap update is an atomic rename of the `..data` symlink. The user-visible
 * `foo.yaml -> ..data/foo.yaml` links never change, and depending on the platform (inotify, macOS
 * FSEvents, network and overlay file systems) that rename is reported on `..data`, late, or not at
 * all. A RULES_PATH that is itself a swapped symlink is also invisible to a watcher bound to the old
 * target. Events give fast reloads in the common case; a cheap digest poll guarantees that every
 * change is picked up within `pollMs`, whatever the file system reported.
 */
export function watchRules(options: WatchRulesOptions): RulesWatcher {
  const reloader = new Reloader(options);
  const fsWatcher = startFsWatcher(options.path, () => reloader.onEvent());
  fsWatcher.on("error", (err) => reloader.emitError(err));
  const ready = new Promise<void>((resolve) => fsWatcher.once("ready", () => resolve()));
  reloader.start();
  return {
    ready,
    async close() {
      await reloader.stop();
      await fsWatcher.close();
    },
  };
}

/** Watches the directory (or a single file's parent directory) one level deep. */
export function startFsWatcher(path: string, onEvent: () => void): FSWatcher {
  const single = !isDirectory(path);
  const dir = single ? dirname(path) : path;
  const name = basename(path);
  // In single-file mode, only the file itself and the ConfigMap plumbing (`..data`) matter.
  const relevant = (changed: string): boolean => {
    if (!single) return true;
    const changedName = basename(changed);
    return changedName === name || changedName.startsWith("..");
  };
  const watcher = watch(dir, { ignoreInitial: true, depth: 0, ignorePermissionErrors: true });
  watcher.on("all", (_event, changed) => {
    if (relevant(changed)) onEvent();
  });
  // Raw fs.watch events include renames chokidar itself does not report (the `..data` swap).
  watcher.on("raw", (_event, changed) => {
    if (relevant(changed)) onEvent();
  });
  return watcher;
}

function isDirectory(path: string): boolean {
  try {
    // One synchronous stat when the watcher starts, to pick the directory to watch.
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Serializes reload attempts: one runs at a time, and requests arriving meanwhile collapse into a
 * single follow-up. Events always re-read (so a still-broken file keeps reporting onError); polls
 * act only when the bytes on disk differ from the last ones seen.
 */
class Reloader {
  private readonly options: WatchRulesOptions;
  private readonly debounceMs: number;
  private readonly pollMs: number;
  /** Digest of the RuleSet the caller holds. */
  private current: string | undefined;
  /** Digest (or read error) of the last attempt, so a poll does not repeat a failed attempt. */
  private lastSeen: string | undefined;
  private closed = false;
  private queued: "none" | "poll" | "event" = "none";
  private needBaseline = false;
  private busy = false;
  private running: Promise<void> = Promise.resolve();
  private debounceTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;

  constructor(options: WatchRulesOptions) {
    this.options = options;
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.current = options.initialDigest;
    this.lastSeen = options.initialDigest;
  }

  start(): void {
    this.needBaseline = this.current === undefined;
    this.kick();
    this.pollTimer = setInterval(() => this.request("poll"), this.pollMs);
    this.pollTimer.unref();
  }

  async stop(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounceTimer);
    clearInterval(this.pollTimer);
    await this.running;
  }

  onEvent(): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => this.request("event"), this.debounceMs);
    this.debounceTimer.unref();
  }

  emitError(err: unknown): void {
    if (this.closed) return;
    try {
      this.options.onError(err);
    } catch {
      // A throwing onError must not stop the watcher; there is nobody left to tell.
    }
  }

  private emitReload(loaded: LoadedRules): void {
    if (this.closed) return;
    try {
      this.options.onReload(loaded.rules, loaded.warnings);
    } catch (err) {
      this.emitError(err);
    }
  }

  private request(kind: "poll" | "event"): void {
    if (this.closed) return;
    if (this.queued !== "event") this.queued = kind;
    this.kick();
  }

  private kick(): void {
    if (this.busy) return;
    this.busy = true;
    this.running = this.drain();
  }

  private async drain(): Promise<void> {
    while (!this.closed && (this.needBaseline || this.queued !== "none")) {
      if (this.needBaseline) {
        this.needBaseline = false;
        await this.takeBaseline();
        continue;
      }
      const force = this.queued === "event";
      this.queued = "none";
      await this.attempt(force);
    }
    this.busy = false;
  }

  private async takeBaseline(): Promise<void> {
    try {
      this.current = digestFiles(await readRulesFiles(this.options.path));
      this.lastSeen = this.current;
    } catch {
      // Unreadable at start: the first event or poll reports it.
    }
  }

  private async attempt(force: boolean): Promise<void> {
    let files: RulesFile[];
    try {
      files = await readRulesFiles(this.options.path);
    } catch (err) {
      const seen = `unreadable:${err instanceof Error ? err.message : String(err)}`;
      if (force || seen !== this.lastSeen) this.emitError(err);
      this.lastSeen = seen;
      return;
    }
    const digest = digestFiles(files);
    if (!force && digest === this.lastSeen) return;
    this.lastSeen = digest;
    if (digest === this.current) return;
    try {
      const loaded = buildRuleSet(files, this.options.load);
      this.current = digest;
      this.emitReload(loaded);
    } catch (err) {
      this.emitError(err);
    }
  }
}
