import type { ChannelCredentials } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type { ConnectionOptions } from "node:tls";
import { httpsGet } from "../../harness/listener-tls.js";
import type { CheckLimitResult } from "./floodgate.js";
import { call, rateLimiterClient } from "./floodgate.js";

/**
 * What a TLS or mTLS listener lets in, each asked on a new connection of its own (the local
 * subchannel pool: grpc-js would otherwise reuse an open connection with equal credentials).
 */

/** CheckLimit: the gRPC status code, OK when it was answered (and allowed). */
export async function checkLimitCode(grpcPort: number, creds: ChannelCredentials): Promise<number> {
  const client = rateLimiterClient(`127.0.0.1:${grpcPort}`, creds, { "grpc.use_local_subchannel_pool": 1 });
  try {
    const res = await call<CheckLimitResult>(client, "CheckLimit", { user_id: "alice" });
    return res.allowed ? status.OK : status.UNKNOWN;
  } catch (error) {
    return (error as { code: number }).code;
  } finally {
    client.close();
  }
}

/** GET /healthz over HTTPS: the HTTP status, or "refused" when the connection failed. */
export async function healthzStatus(
  httpUrl: string,
  options: ConnectionOptions,
): Promise<number | "refused"> {
  try {
    return (await httpsGet(`${httpUrl}/healthz`, options)).status;
  } catch {
    return "refused";
  }
}
