/**
 * Vitest global setup: finds the suite's Redis once (in this order: REDIS_URL, a private
 * redis-server, testcontainers, else fail naming all three; docs/architecture.md, "Testing") and provides its URL to every test
 * file via `inject("redisUrl")`. Nothing is skipped, with or without CI=true: no Redis is an error.
 * Postgres is not started here; tests that need it call `findPostgres()` (test/harness/postgres.ts).
 */
import type { TestProject } from "vitest/node";
import type { RedisSource } from "./redis-server.js";
import { findRedis } from "./redis-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** redis://… of the Redis shared by the suite: use unique key prefixes, never FLUSH. */
    redisUrl: string;
    /** Where it came from; "env" means a shared server that tests must not stop or reconfigure. */
    redisSource: RedisSource;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await findRedis();
  project.provide("redisUrl", redis.url);
  project.provide("redisSource", redis.source);
  return () => redis.stop();
}
