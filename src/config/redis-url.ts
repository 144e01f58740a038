/**
 * The one reading of a Redis URL, `redis://[user:pass@]host[:port][/db]` or `rediss://…`: settings
 * validate REDIS_URL with it, and the store connects with it. Problems never echo the URL (it may
 * hold a password).
 */
export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly tls: boolean;
}

const DEFAULT_PORT = 6379;

type Reading = { readonly endpoint: RedisEndpoint } | { readonly problem: string };

function readRedisUrl(raw: string): Reading {
  // Node's URL error carries the input (password included) in `.input`: it is never passed on.
  const url = URL.canParse(raw) ? new URL(raw) : undefined;
  if (url === undefined || (url.protocol !== "redis:" && url.protocol !== "rediss:")) {
    return { problem: "must be a redis:// or rediss:// URL" };
  }
  if (url.hostname === "") return { problem: "must name a host" };
  const dbText = url.pathname.replace(/^\//, "");
  const db = dbText === "" ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || !/^\d*$/.test(dbText)) {
    return { problem: "the database (the URL's path) must be a non-negative integer" };
  }
  return {
    endpoint: {
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port === "" ? DEFAULT_PORT : Number(url.port),
      db,
      username: url.username === "" ? undefined : decodeURIComponent(url.username),
      password: url.password === "" ? undefined : decodeURIComponent(url.password),
      tls: url.protocol === "rediss:",
    },
  };
}

/** What is wrong with the URL, or undefined when it is a valid Redis URL. */
export function redisUrlProblem(raw: string): string | undefined {
  const reading = readRedisUrl(raw);
  return "problem" in reading ? reading.problem : undefined;
}

/** Throws "Redis URL: <problem>" for a URL that settings would refuse. */
export function parseRedisUrl(raw: string): RedisEndpoint {
  const reading = readRedisUrl(raw);
  if ("problem" in reading) throw new Error(`Redis URL: ${reading.problem}`);
  return reading.endpoint;
}

/** The URL with any credentials masked, for logs. */
export function redactRedisUrl(raw: string): string {
  const reading = readRedisUrl(raw);
  if ("problem" in reading) return "<invalid redis url>";
  const { host, port, db, tls } = reading.endpoint;
  return `${tls ? "rediss" : "redis"}://${host.includes(":") ? `[${host}]` : host}:${port}/${db}`;
}
