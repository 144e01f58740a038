/**
 * Self-test of the test harness: the suite's Redis answers, private servers start and stop,
 * prefix cleanup touches only its prefix, and findPostgres gives a usable database.
 */
import { Redis } from "ioredis";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { findPostgres } from "../harness/postgres.js";
import { commandStats, deleteByPrefix, uniquePrefix } from "../harness/redis-helpers.js";
import { pingPort, startRedisServer } from "../harness/redis-server.js";

describe("test harness", () => {
  it("provides a Redis that answers PING", async () => {
    expect(["env", "local", "container"]).toContain(inject("redisSource"));
    const client = new Redis(inject("redisUrl"));
    try {
      expect(await client.ping()).toBe("PONG");
    } finally {
      await client.quit();
    }
  });

  it("deletes by prefix only its own keys and counts commands", async () => {
    const client = new Redis(inject("redisUrl"));
    const mine = uniquePrefix("harness");
    const other = uniquePrefix("harness");
    try {
      await client.mset(`${mine}a`, "1", `${mine}b*`, "2", `${other}a`, "3");
      expect(await deleteByPrefix(client, mine)).toBe(2);
      expect(await client.get(`${other}a`)).toBe("3");
      expect((await commandStats(client)).mset).toBeGreaterThan(0);
    } finally {
      await deleteByPrefix(client, other);
      await client.quit();
    }
  });

  it("starts and stops a private redis-server", async () => {
    const server = await startRedisServer();
    expect(await pingPort(server.port)).toBe(true);
    server.kill("SIGSTOP");
    expect(await pingPort(server.port, 200)).toBe(false);
    server.kill("SIGCONT");
    expect(await pingPort(server.port)).toBe(true);
    await server.stop();
    expect(await pingPort(server.port)).toBe(false);
  });

  it("finds a usable Postgres and stops it", async () => {
    const postgres = await findPostgres();
    const client = new pg.Client({ connectionString: postgres.url });
    try {
      await client.connect();
      const result = await client.query<{ one: number }>("select 1 as one");
      expect(result.rows).toEqual([{ one: 1 }]);
    } finally {
      await client.end();
      await postgres.stop();
    }
    if (postgres.source === "local") {
      const after = new pg.Client({ connectionString: postgres.url, connectionTimeoutMillis: 1000 });
      await expect(after.connect()).rejects.toThrow();
    }
  }, 60_000);
});
