/**
 * Postgres for the tests that need it (docs/architecture.md, "Testing"), found lazily: only those tests call
 * `findPostgres`. Order: DATABASE_URL; a private instance from the local binaries (initdb and
 * pg_ctl in a temp dir on a free loopback port, no fsync); testcontainers; else an error naming
 * all three. A shared database is never stopped: stop() is a no-op for DATABASE_URL.
 * Postgres refuses to run as root, so as root the binaries run as the `postgres` user.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { atExit, findExecutable, freePort, reason } from "./processes.js";

const run = promisify(execFile);

export interface PostgresTarget {
  /** postgres://… for a superuser with trust auth (private instance) or as given. */
  readonly url: string;
  readonly source: "env" | "local" | "container";
  stop(): Promise<void>;
}

const PG_USER = "postgres";

/** The directory holding initdb and pg_ctl: PG_BIN, else the newest /usr/lib/postgresql/N/bin. */
async function findPgBin(): Promise<string> {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = "/usr/lib/postgresql";
  const versions = await readdir(root).catch(() => [] as string[]);
  versions.sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join(root, version, "bin");
    if (await findExecutable(join(bin, "initdb"))) return bin;
  }
  const onPath = await findExecutable("initdb");
  if (onPath === undefined) throw new Error("initdb not found (set PG_BIN or install postgresql)");
  return onPath.slice(0, onPath.lastIndexOf("/"));
}

/** argv for running a Postgres binary, as the postgres user when we are root. */
function asPgUser(bin: string, args: readonly string[]): [string, string[]] {
  if (process.getuid?.() === 0) return ["runuser", ["-u", PG_USER, "--", bin, ...args]];
  return [bin, [...args]];
}

async function pgCtl(bin: string, args: readonly string[]): Promise<void> {
  const [file, argv] = asPgUser(join(bin, "pg_ctl"), args);
  await run(file, argv, { timeout: 60_000 });
}

/**
 * A private instance that a fault test may stop and start again (same data, same port), to see
 * how clients behave while Postgres is down. Never a shared server.
 */
export interface PrivatePostgres extends PostgresTarget {
  readonly source: "local";
  readonly port: number;
  /** Stops the server (`pg_ctl stop -m fast`), keeping its data directory. */
  stopServer(): Promise<void>;
  /** Starts it again on the same port. */
  startServer(): Promise<void>;
}

/** A private instance from the local binaries (initdb and pg_ctl in a temp dir on a free port). */
export async function startLocalPostgres(): Promise<PrivatePostgres> {
  const bin = await findPgBin();
  const dir = await mkdtemp(join(tmpdir(), "fg-pg-"));
  const data = join(dir, "data");
  try {
    if (process.getuid?.() === 0) await run("chown", [`${PG_USER}:`, dir]);
    const [initdb, initArgs] = asPgUser(join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", PG_USER]);
    await run(initdb, [...initArgs, "-E", "UTF8", "--locale=C", "-N"], { timeout: 60_000 });
    const paths = { bin, dir, data };
    const port = await startPgCtl(paths);
    const stopSync = (): void => {
      const [file, argv] = asPgUser(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "stop"]);
      execFileSync(file, argv, { stdio: "ignore" });
    };
    const release = atExit(stopSync);
    return {
      url: `postgres://${PG_USER}@127.0.0.1:${port}/postgres`,
      source: "local",
      port,
      stopServer: () => pgCtl(bin, ["-D", data, "-m", "fast", "-w", "stop"]),
      startServer: () => pgCtlStart(paths, port),
      stop: async () => {
        release();
        await pgCtl(bin, ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function pgCtlStart(paths: { bin: string; dir: string; data: string }, port: number): Promise<void> {
  // Throwaway data: durability settings off, for speed.
  const serverOptions = `-p ${port} -k ${paths.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  const log = join(paths.dir, "server.log");
  await pgCtl(paths.bin, ["-D", paths.data, "-l", log, "-o", serverOptions, "-w", "-t", "30", "start"]);
}

/** Starts the cluster on a free port, retrying once if the port was taken meanwhile. */
async function startPgCtl(paths: { bin: string; dir: string; data: string }): Promise<number> {
  let failure: unknown;
  for (let attempt = 0; attempt < 2; attempt++) {
    const port = await freePort();
    try {
      await pgCtlStart(paths, port);
      return port;
    } catch (error) {
      failure = error;
    }
  }
  throw failure instanceof Error ? failure : new Error(String(failure));
}

async function startPostgresContainer(): Promise<PostgresTarget> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import("testcontainers");
  await getContainerRuntimeClient(); // throws when no Docker engine is reachable
  const container = await new GenericContainer("postgres:16-alpine")
    .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: "trust" })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  return {
    url: `postgres://${PG_USER}@${container.getHost()}:${container.getMappedPort(5432)}/postgres`,
    source: "container",
    stop: async () => void (await container.stop()),
  };
}

/** DATABASE_URL, else a private local instance, else testcontainers, else an error naming all three. */
export async function findPostgres(): Promise<PostgresTarget> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv !== undefined && fromEnv !== "") {
    return { url: fromEnv, source: "env", stop: () => Promise.resolve() };
  }
  const failures: string[] = [];
  try {
    return await startLocalPostgres();
  } catch (error) {
    failures.push(`local postgres: ${reason(error)}`);
  }
  try {
    return await startPostgresContainer();
  } catch (error) {
    failures.push(`testcontainers: ${reason(error)}`);
  }
  throw new Error(
    "No Postgres for the tests. Set DATABASE_URL, or install the postgresql server binaries " +
      `(initdb, pg_ctl; PG_BIN to point at them), or make a Docker engine reachable for testcontainers. Tried: ${failures.join("; ")}`,
  );
}
