import { exportJWK, exportPKCS8, generateKeyPair } from "jose";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { mintToken } from "../../../src/admin/auth/mint.js";
import type { AdminClient } from "../../../src/transport/grpc/admin-client.js";
import { createAdminClient } from "../../../src/transport/grpc/admin-client.js";
import type { PostgresTarget } from "../../harness/postgres.js";
import { findPostgres } from "../../harness/postgres.js";

/** A key pair, a JWKS file, a unique Postgres schema, and the env that turns the admin API on. */
export interface AdminFixture {
  readonly env: Record<string, string>;
  readonly schema: string;
  readonly databaseUrl: string;
  /** The signing key, as a PEM file the CLI can read. */
  readonly privateKeyFile: string;
  token(options?: TokenOptions): Promise<string>;
  /**
   * An Admin client that mints a fresh token for every call, as an operator must for writes: a
   * write token is single-use (docs/admin-auth.md). Each call opens and closes its own channel.
   */
  client(address: string, options?: TokenOptions & { deadlineMs?: number }): AdminClient;
  query<T extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  cleanup(): Promise<void>;
}

export interface TokenOptions {
  readonly scopes?: string[];
  readonly subject?: string;
  readonly ttlSeconds?: number;
}

export const ISSUER = "https://issuer.test";
export const AUDIENCE = "floodgate-test";

export async function adminFixture(postgres?: PostgresTarget): Promise<AdminFixture> {
  const db = postgres ?? (await findPostgres());
  const dir = await mkdtemp(join(tmpdir(), "fg-admin-"));
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "test-key", alg: "ES256", use: "sig" };
  await writeFile(join(dir, "jwks.json"), JSON.stringify({ keys: [jwk] }));
  const privateKeyPem = await exportPKCS8(privateKey);
  await writeFile(join(dir, "admin-key.pem"), privateKeyPem, { mode: 0o600 });
  const schema = `fgtest_${randomBytes(5).toString("hex")}`;
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const token = (options: TokenOptions = {}) =>
    mintToken({
      privateKeyPem,
      kid: "test-key",
      issuer: ISSUER,
      audience: AUDIENCE,
      subject: options.subject ?? "alice@ops",
      scopes: options.scopes ?? ["floodgate:admin"],
      ttlSeconds: options.ttlSeconds ?? 300,
    });
  // A test may stop a private Postgres under it: an idle client then emits an error.
  pool.on("error", () => undefined);
  return {
    schema,
    databaseUrl: db.url,
    privateKeyFile: join(dir, "admin-key.pem"),
    env: {
      ADMIN_JWKS_FILE: join(dir, "jwks.json"),
      ADMIN_JWT_ISSUER: ISSUER,
      ADMIN_JWT_AUDIENCE: AUDIENCE,
      DATABASE_URL: db.url,
      DATABASE_SCHEMA: schema,
      OVERRIDE_RESYNC_MS: "500",
    },
    token,
    client: (address, options = {}) => ({
      call: async (method, request) => {
        const { deadlineMs } = options;
        const client = createAdminClient({
          address,
          token: await token(options),
          ...(deadlineMs === undefined ? {} : { deadlineMs }),
        });
        try {
          return await client.call(method, request);
        } finally {
          client.close();
        }
      },
      close: () => undefined,
    }),
    query: async <T extends pg.QueryResultRow>(sql: string, params?: unknown[]) =>
      (await pool.query<T>(sql, params)).rows,
    cleanup: async () => {
      await pool.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
      await pool.end();
      await rm(dir, { recursive: true, force: true });
      if (postgres === undefined) await db.stop();
    },
  };
}
