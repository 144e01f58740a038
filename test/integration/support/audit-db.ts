/**
 * Unique schemas and roles for the audit-store tests on a (possibly shared) Postgres. Everything
 * created here carries a random name and is dropped by `cleanup`; nothing else is touched.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { migrate } from "../../../src/audit/migrations.js";
import type { PgAuditStoreOptions } from "../../../src/audit/pg-audit-store.js";
import { createPgAuditStore } from "../../../src/audit/pg-audit-store.js";
import type { Actor, AuditStore, ChangeContext } from "../../../src/audit/types.js";

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

/** The same server and database as `url`, as another user (trust auth: no password). */
export function asUser(url: string, user: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = "";
  return u.toString();
}

export function actor(sub: string, jti?: string): Actor {
  return { sub, iss: "https://issuer.test", jti };
}

export function ctx(sub: string, reason = "test"): ChangeContext {
  return { actor: actor(sub, `jti-${sub}`), reason, requestId: `req-${randomBytes(3).toString("hex")}` };
}

/** A superuser connection for setup, tampering and cleanup of what this run created. */
export class TestDb {
  readonly schemas: string[] = [];
  readonly roles: string[] = [];
  readonly stores: AuditStore[] = [];
  readonly admin: pg.Pool;

  constructor(readonly url: string) {
    this.admin = new pg.Pool({ connectionString: url, max: 3 });
  }

  async query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.admin.query<T>(sql, params)).rows;
  }

  /** A new migrated schema (name recorded for cleanup). */
  async freshSchema(): Promise<string> {
    const schema = uniqueName("fg_audit");
    this.schemas.push(schema);
    await migrate(this.admin, schema);
    return schema;
  }

  /** A login role with only what the application needs on `schema`. */
  async appRole(schema: string): Promise<string> {
    const role = uniqueName("fg_app");
    this.roles.push(role);
    const s = `"${schema}"`;
    await this.query(`create role ${role} login`);
    // A session time zone far from UTC: hashes must not depend on it.
    await this.query(`alter role ${role} set timezone = 'Asia/Kathmandu'`);
    await this.query(`grant usage on schema ${s} to ${role}`);
    await this.query(`grant select, insert, update, delete on ${s}.overrides to ${role}`);
    await this.query(`grant usage, select on sequence ${s}.overrides_id_seq to ${role}`);
    await this.query(`grant select, insert on ${s}.audit_events to ${role}`);
    await this.query(`grant usage on sequence ${s}.audit_events_id_seq to ${role}`);
    return role;
  }

  async store(options: Partial<PgAuditStoreOptions> & { schema: string }): Promise<AuditStore> {
    const store = await createPgAuditStore({ connectionString: this.url, migrate: false, ...options });
    this.stores.push(store);
    return store;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.stores.map((s) => s.close().catch(() => undefined)));
    for (const schema of this.schemas) await this.query(`drop schema if exists "${schema}" cascade`);
    for (const role of this.roles) {
      await this.query(`select pg_terminate_backend(pid) from pg_stat_activity where usename = $1`, [role]);
      await this.query(`drop role if exists ${role}`);
    }
    await this.admin.end();
  }
}
