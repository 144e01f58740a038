/**
 * The embedded default (admin on, DATABASE_URL unset): PGlite (Postgres compiled to WASM, run in
 * this process) persisted in ADMIN_DATA_DIR, served on a loopback port by PGlite's socket server
 * so that the very same `pg` code and SQL run on it as on a real Postgres.
 *
 * What the socket server can and cannot do (pglite 0.5.14 / pglite-socket 0.2.17, checked):
 * - PGlite is ONE backend. The server multiplexes connections message by message: a transaction
 *   keeps its connection exclusive, but session state (search_path, LISTEN, prepared statements,
 *   startup parameters such as statement_timeout, which are ignored) is shared or lost. Hence a
 *   pool of ONE connection, and every SQL name qualified with the schema.
 * - A NOTIFY is delivered to whichever connection runs the next statement, not to the listener's:
 *   so no LISTEN here. Notifications are "local" (listeners hear this process's own commits,
 *   complete on a single node, which is the only writer) plus the periodic resync.
 * - No authentication, no TLS: it listens on 127.0.0.1 only. Any local process could connect.
 * - One process per data directory: a `<dataDir>.lock` file holding the pid refuses a second.
 * - Memory: the WASM instance adds a few hundred MB of RSS; a first start (initdb) takes seconds.
 */
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { FloodgateError } from "../../domain/errors.js";
import type { DatabaseConnection } from "./pg-db.js";
import { toFloodgateError } from "./pg-errors.js";

export interface EmbeddedPostgres {
  /** postgres://… on 127.0.0.1 for `pg`, with what a client of this server needs (above). */
  readonly connection: DatabaseConnection;
  /** Stops the socket server and closes PGlite (close what connects to it first). */
  stop(): Promise<void>;
}

/** A pool of one connection, and listeners told in process instead of LISTEN (see above). */
const CLIENT_NEEDS = Object.freeze({
  pool: Object.freeze({ max: 1, idleTimeoutMillis: 0 }),
  notifications: "local",
} as const);

/** Data dirs open in this process (the lock file's pid cannot tell us apart from ourselves). */
const openHere = new Set<string>();

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = `${dataDir}.lock`;
  const inUse = (detail: string) => new FloodgateError("UNAVAILABLE", "embedded database in use", detail);
  if (openHere.has(dataDir)) throw inUse(`${dataDir} is already open in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      openHere.add(dataDir);
      return async () => {
        openHere.delete(dataDir);
        await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const pid = Number((await readFile(path, "utf8").catch(() => "")).trim());
      if (alive(pid)) throw inUse(`${dataDir} is open in process ${pid} (or remove a stale ${path})`);
      await rm(path, { force: true }); // its process is gone
    }
  }
  throw inUse(`could not take ${path}`);
}

/** PGlite on `dataDir`, served on a loopback port the OS picks (no race for a free port). */
async function serve(dataDir: string): Promise<{ db: PGlite; server: PGLiteSocketServer; port: number }> {
  const db = await PGlite.create({ dataDir });
  // Two, not one: when the pool replaces its connection, the old one may not be detached yet.
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 2 });
  try {
    await server.start();
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
  const port = Number(server.getServerConn().split(":").at(-1));
  return { db, server, port };
}

export async function startEmbeddedPostgres(options: { dataDir: string }): Promise<EmbeddedPostgres> {
  const dataDir = resolve(options.dataDir);
  let release: (() => Promise<void>) | undefined;
  try {
    await mkdir(dataDir, { recursive: true });
    release = await lockDataDir(dataDir);
    const { db, server, port } = await serve(dataDir);
    const unlock = release;
    const connectionString = `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`;
    let stopping: Promise<void> | undefined;
    const stop = async (): Promise<void> => {
      await server.stop();
      await db.close();
      await unlock();
    };
    return {
      connection: { connectionString, ...CLIENT_NEEDS },
      stop: () => (stopping ??= stop()),
    };
  } catch (error) {
    await release?.();
    throw toFloodgateError(error, []);
  }
}
