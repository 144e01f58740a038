/**
 * Servers (b) and (c): Floodgate itself, started through its composition root with settings built
 * from an explicit object (never the bench's environment), so the run measures the defaults.
 *
 * Usage (from bench/run.js): server-floodgate.js '{"RULES_PATH": "...", "REDIS_URL": "..."}'
 * (the argument: settings variables laid over the bench's own, as loadSettings reads them)
 */
import { loadSettings } from "../src/config/settings.js";
import { startFloodgate } from "../src/app/floodgate.js";
import { reportFailure, serveParent } from "./child.js";

async function main(): Promise<void> {
  const overrides = JSON.parse(process.argv[2] ?? "{}") as Record<string, string>;
  const settings = loadSettings({
    HOST: "127.0.0.1",
    GRPC_PORT: "0",
    HTTP_PORT: "0",
    REDIS_KEY_PREFIX: "fgbench:",
    LOG_LEVEL: "error",
    SHUTDOWN_GRACE_MS: "500",
    ...overrides,
  });
  const floodgate = await startFloodgate(settings);
  serveParent({
    ready: { grpcPort: floodgate.grpcPort, httpPort: floodgate.httpPort },
    // The parent reads Floodgate's own counters from /metrics, like an operator would.
    requests: () => Number.NaN,
    close: () => floodgate.close(),
  });
}

main().catch(reportFailure);
