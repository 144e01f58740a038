#!/usr/bin/env node
import { PACKAGE_VERSION } from "../config/paths.js";
import { RulesError } from "../config/rules-loader.js";
import { loadSettings, SettingsError } from "../config/settings.js";
import { configValidateCommand } from "./cli/validate-command.js";
import { startFloodgate } from "./floodgate.js";
import { createLogger } from "../observability/logger.js";
import { adminCommand, ADMIN_USAGE } from "./cli/admin-commands.js";
import { UsageError } from "./cli/args.js";
import { MintError } from "../admin/auth/mint.js";
import { migrateCommand } from "./cli/migrate-command.js";
import { isPrimaryOf, runPrimary } from "./workers.js";

const USAGE = `Usage: floodgate <command>

Commands:
  serve                     start the gRPC and HTTP servers (settings come from the environment)
  config validate [--strict] [--merge-domain-config] PATH
                            check a rules file or directory; exits 1 with the errors.
                            --strict: refuse keys that have no effect (served with a warning);
                            --merge-domain-config: as MERGE_DOMAIN_CONFIG=true
  migrate [--grant-to ROLE] apply the database migrations (DATABASE_URL, or the embedded database);
                            --grant-to: grant ROLE what serve needs (docs/audit-log.md, Roles)
  admin ...                 operator commands: tokens, overrides, buckets, audit log
  version                   print the version
  help                      print this text

See README.md for every setting.`;

async function serve(): Promise<number> {
  const settings = loadSettings();
  const logger = createLogger(settings.logLevel);
  if (isPrimaryOf(settings.workers)) {
    return runPrimary({ workers: settings.workers, logger, graceMs: settings.shutdownGraceMs });
  }
  const app = await startFloodgate(settings, { logger });
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn({ signal }, "second signal: exiting now");
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, "shutting down");
      app.close().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });
}

async function run(argv: string[]): Promise<number> {
  const [command, sub] = argv;
  switch (command) {
    case "serve":
      return serve();
    case "config":
      if (sub === "validate") return configValidateCommand(argv.slice(2));
      break;
    case "admin":
      return adminCommand(argv.slice(1));
    case "migrate":
      return migrateCommand(argv.slice(1));
    case "version":
      console.log(PACKAGE_VERSION);
      return 0;
    case "help":
    case undefined:
      console.log(USAGE);
      return command === undefined ? 2 : 0;
  }
  console.error(`unknown command: ${argv.join(" ")}\n\n${USAGE}`);
  return 2;
}

/** Startup failures that a user can fix get a plain message, not a stack trace. */
function report(err: unknown): number {
  if (err instanceof UsageError) {
    console.error(err.message === ADMIN_USAGE ? ADMIN_USAGE : `floodgate: ${err.message}\n\n${ADMIN_USAGE}`);
    return 2;
  }
  if (isGrpcError(err)) {
    console.error(`floodgate: ${err.details} (gRPC code ${err.code})`);
    return 1;
  }
  if (err instanceof SettingsError || err instanceof RulesError || err instanceof MintError) {
    console.error(`floodgate: ${err.message}`);
    return 2;
  }
  console.error("floodgate: fatal:", err);
  return 1;
}

function isGrpcError(err: unknown): err is { code: number; details: string } {
  return (
    typeof err === "object" &&
    err !== null &&
    "code" in err &&
    "details" in err &&
    typeof err.code === "number"
  );
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => process.exit(report(err)),
);
