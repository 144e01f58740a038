import { runMigrations } from "../audit/migrations.js";
import { loadSettings } from "../config/settings.js";

/** `floodgate migrate`: the same migrations `serve` applies at startup, for deploy pipelines. */
export async function migrateCommand(): Promise<number> {
  const settings = loadSettings();
  const applied = await runMigrations(settings);
  process.stdout.write(`migrations applied: ${JSON.stringify(applied)}\n`);
  return 0;
}
