import pg from "pg";
import { backoffMs } from "../../domain/backoff.js";
import { clientConfig } from "./pg-db.js";
import { toFloodgateError } from "./pg-errors.js";

/** One channel for every schema; the payload names the schema, and listeners filter on it. */
export const NOTIFY_CHANNEL = "floodgate_overrides";

/** Reconnect waits: 100 ms doubling to 5 s, with jitter (below). */
const BACKOFF = { minMs: 100, maxMs: 5000 };
/** A silently dead connection (no FIN, e.g. a network partition) is found by a failing ping. */
const HEARTBEAT_MS = 15_000;

export interface ListenOptions {
  readonly connectionString: string;
  readonly schema: string;
  readonly secrets: readonly string[];
  readonly listener: () => void;
  readonly onError: (err: unknown) => void;
}

/**
 * LISTEN on a dedicated client (a pooled one could be closed or reused under us). When the
 * connection drops it reconnects with capped exponential backoff, and after every reconnect it
 * calls the listener once, since notifications sent meanwhile were lost.
 */
class ChangeSubscription {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;

  constructor(private readonly options: ListenOptions) {}

  async connect(options: { reconnect: boolean }): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client(clientConfig(this.options.connectionString));
    this.client = client;
    client.on("notification", (msg) => {
      if (msg.channel === NOTIFY_CHANNEL && msg.payload === this.options.schema) this.options.listener();
    });
    client.on("error", (err) => this.lost(client, err));
    client.on("end", () => this.lost(client, undefined));
    try {
      await client.connect();
      await client.query(`listen ${NOTIFY_CHANNEL}`);
    } catch (error) {
      this.lost(client, error);
      return;
    }
    this.failures = 0;
    this.startHeartbeat(client);
    if (options.reconnect && !this.stopped) this.options.listener();
  }

  private startHeartbeat(client: pg.Client): void {
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      // query_timeout (clientConfig) fails the ping if the server never answers.
      client.query("select 1").catch((err: unknown) => this.lost(client, err));
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.client !== client) return; // already handled (error and end both fire)
    this.client = undefined;
    clearInterval(this.heartbeat);
    if (error !== undefined && !this.stopped)
      this.options.onError(toFloodgateError(error, this.options.secrets));
    client.end().catch(() => undefined);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.failures += 1;
    const base = backoffMs(this.failures, BACKOFF);
    const delay = base / 2 + Math.random() * (base / 2); // jitter: replicas do not reconnect in step
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect({ reconnect: true });
    }, delay);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}

/**
 * Resolves once the first attempt is over, connected or not: with Postgres down it keeps
 * retrying in the background (errors go to onError) and calls the listener when it gets through.
 */
export async function listenForChanges(options: ListenOptions): Promise<() => Promise<void>> {
  const subscription = new ChangeSubscription(options);
  await subscription.connect({ reconnect: false });
  return () => subscription.stop();
}
