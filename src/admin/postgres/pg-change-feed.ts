import type { Notifications } from "./pg-db.js";
import { listenForChanges } from "./pg-listen.js";

/** In-process change listeners (the "local" notification mode). */
class LocalListeners {
  private readonly listeners = new Set<() => void>();

  add(listener: () => void): () => Promise<void> {
    const own = (): void => listener(); // a distinct entry even if one function subscribes twice
    this.listeners.add(own);
    return () => Promise.resolve(void this.listeners.delete(own));
  }

  /** After commit, and never inside the caller's stack. */
  emit(): void {
    setImmediate(() => {
      for (const listener of this.listeners) listener();
    });
  }
}

export interface ChangeFeedOptions {
  readonly notifications: Notifications;
  readonly connectionString: string;
  readonly schema: string;
  readonly secrets: readonly string[];
  /** A lost LISTEN connection (it reconnects by itself). */
  readonly onError: (err: unknown) => void;
}

/**
 * Who hears that overrides changed: every replica through LISTEN (the NOTIFY is sent in the
 * change's transaction), or, on embedded PGlite, this process's listeners after each commit.
 */
export class ChangeFeed {
  private readonly subscriptions = new Set<() => Promise<void>>();
  private readonly local: LocalListeners | undefined;

  constructor(private readonly options: ChangeFeedOptions) {
    this.local = options.notifications === "local" ? new LocalListeners() : undefined;
  }

  /** Call after a commit that changed overrides (in "listen" mode its NOTIFY already did the work). */
  committed(): void {
    this.local?.emit();
  }

  async subscribe(listener: () => void): Promise<() => Promise<void>> {
    const { connectionString, schema, secrets, onError } = this.options;
    const stop =
      this.local?.add(listener) ??
      (await listenForChanges({ connectionString, schema, secrets, listener, onError }));
    const unsubscribe = async (): Promise<void> => {
      this.subscriptions.delete(unsubscribe);
      await stop();
    };
    this.subscriptions.add(unsubscribe);
    return unsubscribe;
  }

  /** Ends every subscription still open. */
  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((unsubscribe) => unsubscribe()));
  }
}
