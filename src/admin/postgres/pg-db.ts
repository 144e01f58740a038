import pg from "pg";
import { FloodgateError } from "../../domain/errors.js";
import type { ChainKeys } from "./chain-key.js";
import { quoteSchema, secretsOf, toFloodgateError, UNAVAILABLE_MESSAGE } from "./pg-errors.js";

/**
 * Timeouts chosen so that, with Postgres down or stuck, an admin write fails in about two seconds
 * (connect) or five (a statement, including a wait on the audit lock) instead of hanging.
 */
export const CONNECTION_TIMEOUT_MS = 2000;
export const STATEMENT_TIMEOUT_MS = 5000;

/** An audit append Floodgate refused to seal: the row the database handed back, and why. */
export interface AppendRefusal {
  readonly id: string;
  readonly problem: string;
}

export interface PoolOptions {
  /** Pool size (default 5; embedded PGlite needs 1). */
  readonly max?: number;
  /** Close idle clients after this long (default 30 s; 0 keeps them). */
  readonly idleTimeoutMillis?: number;
}

/**
 * How a replica hears that overrides changed. "listen": LISTEN/NOTIFY on a dedicated connection,
 * so every replica on this Postgres hears every change. "local": listeners hear only this
 * process's own commits, for embedded PGlite, whose socket server cannot deliver a NOTIFY to
 * another connection (a single node is the only writer there, and the periodic resync covers the
 * rest).
 */
export type Notifications = "listen" | "local";

/** A database to connect to, with what its server needs of a client (embedded.ts for PGlite's). */
export interface DatabaseConnection {
  readonly connectionString: string;
  readonly pool?: PoolOptions;
  readonly notifications: Notifications;
}

/** Settings shared by pool clients and the dedicated LISTEN client. */
export function clientConfig(connectionString: string): pg.ClientConfig {
  return {
    connectionString,
    connectionTimeoutMillis: CONNECTION_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    // Client-side backstop for a black-holed connection, where the server-side timeout never fires.
    query_timeout: STATEMENT_TIMEOUT_MS + 1000,
    // A replica that dies inside a transaction must not hold the audit lock for long.
    idle_in_transaction_session_timeout: 10_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: "floodgate",
  };
}

/**
 * A pool plus the schema it works in, and the chain key when one is set (every audit append then
 * writes its seal); every failure surfaces as FloodgateError UNAVAILABLE.
 */
export class Db {
  private readonly pool: pg.Pool;
  private closed = false;
  /** The schema's bare name, and quoted for SQL. */
  readonly schema: string;
  readonly s: string;
  readonly secrets: readonly string[];
  readonly chainKeys: ChainKeys | undefined;
  private readonly onAppendRefused: (refusal: AppendRefusal) => void;

  constructor(options: {
    connectionString: string;
    schema: string;
    pool: PoolOptions | undefined;
    chainKeys: ChainKeys | undefined;
    onError: (err: unknown) => void;
    onAppendRefused: ((refusal: AppendRefusal) => void) | undefined;
  }) {
    this.schema = options.schema;
    this.s = quoteSchema(options.schema);
    this.chainKeys = options.chainKeys;
    this.onAppendRefused = options.onAppendRefused ?? (() => undefined);
    this.secrets = secretsOf(options.connectionString);
    this.pool = new pg.Pool({
      ...clientConfig(options.connectionString),
      max: options.pool?.max ?? 5,
      idleTimeoutMillis: options.pool?.idleTimeoutMillis ?? 30_000,
    });
    // An idle client whose server went away emits 'error'; the pool then discards it. Without a
    // handler that event would crash the process.
    this.pool.on("error", (err) => options.onError(this.wrap(err)));
  }

  /**
   * Reports an audit row the database handed back that Floodgate will not seal, and returns the
   * error to throw: the transaction rolls back and the caller sees UNAVAILABLE, as for any
   * database failure (docs/audit-log.md, "Seals").
   */
  refuseAppend(refusal: AppendRefusal): FloodgateError {
    this.onAppendRefused(refusal);
    return new FloodgateError(
      "UNAVAILABLE",
      UNAVAILABLE_MESSAGE,
      `audit append refused, row ${refusal.id}: ${refusal.problem}`,
    );
  }

  wrap(error: unknown): Error {
    return toFloodgateError(error, this.secrets);
  }

  async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (error) {
      throw this.wrap(error);
    }
  }

  /** BEGIN … COMMIT on one client; on any failure ROLLBACK, discard the client and rethrow. */
  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw this.wrap(error);
    }
    // A checked-out client has no pool listener: a connection lost mid-transaction would emit an
    // unhandled 'error' and crash the process. The pending query rejects with it anyway.
    const ignore = (): void => undefined;
    client.on("error", ignore);
    try {
      await client.query("begin");
      const result = await work(client);
      await client.query("commit");
      client.removeListener("error", ignore);
      client.release();
      return result;
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      client.removeListener("error", ignore);
      client.release(true); // never reuse a client whose state we no longer know
      throw this.wrap(error);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
