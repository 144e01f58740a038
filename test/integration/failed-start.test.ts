import { createServer } from "node:net";
import type { Server } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSettings } from "../../src/config/settings.js";
import { startFloodgate } from "../../src/app/floodgate.js";
import { freePort } from "../harness/processes.js";

/** Binds 127.0.0.1:port, or fails with the bind error (EADDRINUSE while someone holds it). */
function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

const close = (server: Server) => new Promise((resolve) => server.close(resolve));

describe("a start that fails part-way", () => {
  let rulesDir: string;
  beforeAll(async () => {
    rulesDir = await mkdtemp(join(tmpdir(), "fg-failed-start-"));
    await writeFile(join(rulesDir, "rl.yaml"), "domain: rl\n");
  });
  afterAll(async () => rm(rulesDir, { recursive: true, force: true }));

  it("closes what it had opened: the gRPC listener it bound is free again", async () => {
    const [grpcPort, adminPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const squatter = await occupy(httpPort);
    try {
      const settings = loadSettings({
        HOST: "127.0.0.1",
        GRPC_PORT: String(grpcPort),
        ADMIN_GRPC_PORT: String(adminPort),
        HTTP_PORT: String(httpPort),
        RULES_PATH: rulesDir,
        SHUTDOWN_GRACE_MS: "100",
      });
      await expect(startFloodgate(settings, { logger: pino({ level: "silent" }) })).rejects.toThrow(
        /EADDRINUSE/,
      );
    } finally {
      await close(squatter);
    }
    // Both gRPC listeners were bound before the HTTP one failed; both must have been closed.
    for (const port of [grpcPort, adminPort]) await close(await occupy(port));
  });
});
