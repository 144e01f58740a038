/**
 * The SQL of each migration, as strings so that it ships in dist/ with the code. Every name is
 * qualified with the configured schema (`s`, already a quoted identifier): embedded PGlite ignores
 * per-connection settings such as search_path, and qualified names cannot be hijacked by one.
 * Applied migrations are never edited; a change is a new version.
 */

/** Two-key advisory lock namespaces (the second key is hashtext of the schema name). */
export const MIGRATION_LOCK_SQL = "select pg_advisory_xact_lock(hashtext('floodgate.migrate'), hashtext($1))";

const UNITS_SQL = "'second', 'minute', 'hour', 'day', 'week', 'month', 'year'";
const ACTIONS_SQL = "'override.set', 'override.delete', 'override.expire', 'bucket.reset', 'rules.reload'";

function overridesTable(s: string): string {
  return `
create table ${s}.overrides (
  id bigserial primary key,
  domain text not null check (length(domain) between 1 and 256),
  entries jsonb not null check (jsonb_typeof(entries) = 'array' and jsonb_array_length(entries) > 0),
  -- jsonb::text is canonical (normalised spacing and key order), so equal descriptors collide here.
  descriptor text generated always as (entries::text) stored,
  requests_per_unit bigint not null check (requests_per_unit >= 0),
  unit text not null check (unit in (${UNITS_SQL})),
  burst bigint check (burst is null or burst >= 0),
  expires_at timestamptz,
  reason text not null,
  created_by text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint overrides_domain_descriptor_key unique (domain, descriptor)
);
create index overrides_expires_at_idx on ${s}.overrides (expires_at) where expires_at is not null;
`;
}

function auditTable(s: string): string {
  return `
-- ids come from this sequence inside the insert trigger, under the chain lock, so that id order is
-- chain order (a column default would be evaluated before the lock is taken).
create sequence ${s}.audit_events_id_seq;
create table ${s}.audit_events (
  id bigint primary key,
  at timestamptz not null default now(),
  actor_sub text not null,
  actor_iss text not null,
  actor_jti text,
  action text not null check (action in (${ACTIONS_SQL})),
  domain text,
  target jsonb,
  before jsonb,
  after jsonb,
  reason text,
  request_id text,
  prev_hash text not null check (prev_hash ~ '^[0-9a-f]{64}$'),
  hash text not null check (hash ~ '^[0-9a-f]{64}$')
);
alter sequence ${s}.audit_events_id_seq owned by ${s}.audit_events.id;
create index audit_events_at_idx on ${s}.audit_events (at);
create index audit_events_actor_idx on ${s}.audit_events (actor_sub, id);
create index audit_events_action_idx on ${s}.audit_events (action, id);
`;
}

/**
 * The canonical content of a row: every column but hash, as jsonb text (keys sorted, spacing
 * normalised). `at` is rendered in UTC by hand, since jsonb would render it in the session's
 * TimeZone. The hash is sha256(prev_hash || content), hex.
 */
function hashFunctions(s: string, schemaName: string): string {
  return `
create function ${s}.audit_event_content(e ${s}.audit_events) returns text
language sql stable as $fn$
  select jsonb_build_object(
    'id', e.id,
    'at', to_char(e.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'actor_sub', e.actor_sub, 'actor_iss', e.actor_iss, 'actor_jti', e.actor_jti,
    'action', e.action, 'domain', e.domain, 'target', e.target,
    'before', e.before, 'after', e.after, 'reason', e.reason,
    'request_id', e.request_id, 'prev_hash', e.prev_hash
  )::text
$fn$;

create function ${s}.audit_event_hash(e ${s}.audit_events) returns text
language sql stable as $fn$
  select encode(sha256(convert_to(e.prev_hash || ${s}.audit_event_content(e), 'UTF8')), 'hex')
$fn$;

-- Serialises appends (and override writes) per schema until commit, so the chain never forks.
create function ${s}.audit_lock() returns void
language sql volatile as $fn$
  select pg_advisory_xact_lock(hashtext('floodgate.audit'), hashtext('${schemaName}'))
$fn$;
`;
}

function auditTriggers(s: string): string {
  return `
create function ${s}.audit_events_chain() returns trigger
language plpgsql as $fn$
declare
  last_hash text;
begin
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'audit_events: append in a READ COMMITTED transaction (the chain head must be read fresh)';
  end if;
  perform ${s}.audit_lock();
  -- A volatile function's query takes a fresh snapshot: it sees the head committed before the lock.
  select e.hash into last_hash from ${s}.audit_events e order by e.id desc limit 1;
  new.id := nextval('${s}.audit_events_id_seq');
  new.at := clock_timestamp();
  new.prev_hash := coalesce(last_hash, repeat('0', 64));
  new.hash := ${s}.audit_event_hash(new);
  return new;
end
$fn$;

create function ${s}.audit_events_append_only() returns trigger
language plpgsql as $fn$
begin
  raise exception 'audit_events is append-only: % rejected', tg_op using errcode = 'insufficient_privilege';
end
$fn$;

create trigger audit_events_chain before insert on ${s}.audit_events
  for each row execute function ${s}.audit_events_chain();
create trigger audit_events_no_update before update on ${s}.audit_events
  for each statement execute function ${s}.audit_events_append_only();
create trigger audit_events_no_delete before delete on ${s}.audit_events
  for each statement execute function ${s}.audit_events_append_only();
create trigger audit_events_no_truncate before truncate on ${s}.audit_events
  for each statement execute function ${s}.audit_events_append_only();
`;
}

/**
 * Seals (docs/audit-log.md, "Seals"): one HMAC per audit row, computed by Floodgate with a key the
 * database never sees and written in the row's transaction, under the chain lock. Checkpoints let
 * a verification continue where the last one ended. Both tables are append-only like the log.
 */
function sealTables(s: string): string {
  return `
create table ${s}.audit_seals (
  event_id bigint primary key,
  seal text not null check (seal ~ '^[0-9a-f]{64}$'),
  key_id text not null check (key_id ~ '^[0-9a-f]{16}$'),
  -- true: sealed on first use, after the row was written without a key (trust on first use)
  adopted boolean not null default false,
  sealed_at timestamptz not null default now()
);
create table ${s}.audit_checkpoints (
  id bigserial primary key,
  event_id bigint not null,
  hash text not null check (hash ~ '^[0-9a-f]{64}$'),
  seal text check (seal ~ '^[0-9a-f]{64}$'),
  key_id text check (key_id ~ '^[0-9a-f]{16}$'),
  mac text check (mac ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now()
);

create function ${s}.audit_append_only() returns trigger
language plpgsql as $fn$
begin
  raise exception '% is append-only: % rejected', tg_table_name, tg_op using errcode = 'insufficient_privilege';
end
$fn$;
${["audit_seals", "audit_checkpoints"]
  .map(
    (table) => `
create trigger ${table}_no_update before update on ${s}.${table}
  for each statement execute function ${s}.audit_append_only();
create trigger ${table}_no_delete before delete on ${s}.${table}
  for each statement execute function ${s}.audit_append_only();
create trigger ${table}_no_truncate before truncate on ${s}.${table}
  for each statement execute function ${s}.audit_append_only();`,
  )
  .join("")}
`;
}

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** `schema` is the bare name (validated), `s` the same name quoted for SQL. */
  readonly sql: (names: { schema: string; s: string }) => string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "overrides and hash-chained audit log",
    sql: ({ schema, s }) => overridesTable(s) + auditTable(s) + hashFunctions(s, schema) + auditTriggers(s),
  },
  { version: 2, name: "audit seals and verification checkpoints", sql: ({ s }) => sealTables(s) },
];
