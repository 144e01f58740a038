import { isRoleName, ROLE_NAME_RULE } from "../../admin/postgres/grants.js";
import { runMigrations } from "../../admin/postgres/migrations.js";
import { loadSettings } from "../../config/settings.js";
import { parse, str, UsageError } from "./args.js";

/**
 * `floodgate migrate [--grant-to ROLE]`: the same migrations `serve` applies at startup, for deploy
 * pipelines, run as the owner role; `--grant-to` then grants the application role what `serve`
 * needs on every table, so an upgrade that adds a table cannot leave it without (docs/audit-log.md).
 */
export async function migrateCommand(args: string[] = []): Promise<number> {
  const { values } = parse(args, { "grant-to": { type: "string" } });
  const grantTo = str(values, "grant-to");
  if (grantTo !== undefined && !isRoleName(grantTo))
    throw new UsageError(`--grant-to must be a role name: ${ROLE_NAME_RULE}`);
  const settings = loadSettings();
  const applied = await runMigrations(settings, grantTo === undefined ? {} : { grantTo });
  process.stdout.write(`migrations applied: ${JSON.stringify(applied)}\n`);
  return 0;
}
