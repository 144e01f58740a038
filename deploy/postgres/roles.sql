-- The two database roles of the compose stack (docs/audit-log.md, "Roles"). Postgres runs this
-- once, when its service starts on an empty data volume (docker-entrypoint-initdb.d).
--
--   floodgate_owner  owns the schema and its tables and runs `floodgate migrate`. An owner can
--                    disable the audit log's triggers, so nothing else runs as it.
--   floodgate_app    runs `floodgate serve`: it can read, append and change overrides, never
--                    update or delete an audit row. `migrate --grant-to floodgate_app` grants it
--                    exactly that on every table, after each migration.
--
-- Demo passwords, for trying Floodgate out only.
create role floodgate_owner login password 'floodgate-owner';
create role floodgate_app login password 'floodgate-app';
create schema floodgate authorization floodgate_owner;
