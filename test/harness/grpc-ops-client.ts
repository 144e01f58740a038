/**
 * grpc.health.v1 and reflection spoken in raw bytes: no proto files on the client side. Plain
 * text unless credentials are given.
 */
import type { ChannelCredentials, ServiceClientConstructor } from "@grpc/grpc-js";
import { credentials, makeGenericClientConstructor } from "@grpc/grpc-js";
import { rawMethod } from "./raw-grpc.js";

export interface OpsClient {
  check(req: Buffer, cb: (err: { code: number } | null, res: Buffer) => void): void;
  watch(req: Buffer): NodeJS.EventEmitter & { cancel(): void };
  reflect(): NodeJS.EventEmitter & { write(b: Buffer): void; end(): void };
  close(): void;
}

export function opsClient(
  address: string,
  creds: ChannelCredentials = credentials.createInsecure(),
): OpsClient {
  const Ctor: ServiceClientConstructor = makeGenericClientConstructor(
    {
      check: rawMethod("/grpc.health.v1.Health/Check"),
      watch: rawMethod("/grpc.health.v1.Health/Watch", { responseStream: true }),
      reflect: rawMethod("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", {
        requestStream: true,
        responseStream: true,
      }),
    },
    "Raw",
  );
  return new Ctor(address, creds) as unknown as OpsClient;
}

/** HealthCheckRequest{service}: field 1, string. */
export const healthRequest = (service: string): Buffer =>
  service === ""
    ? Buffer.alloc(0)
    : Buffer.concat([Buffer.from([0x0a, service.length]), Buffer.from(service)]);
export const SERVING = "0801";
export const NOT_SERVING = "0802";

/** Health/Check: the status code (0 when answered) and the response in hex. */
export function healthCheck(client: OpsClient, service: string): Promise<{ code: number; body: string }> {
  return new Promise((resolve) =>
    client.check(healthRequest(service), (err, res) =>
      resolve({ code: err?.code ?? 0, body: res?.toString("hex") ?? "" }),
    ),
  );
}

/** The reflection service's answer to list_services "*", as text (service names are readable). */
export async function listServices(client: OpsClient): Promise<string> {
  const stream = client.reflect();
  const reply = new Promise<Buffer>((resolve, reject) => {
    stream.on("data", resolve);
    stream.on("error", reject);
  });
  stream.write(Buffer.from("3a012a", "hex")); // list_services: "*"
  try {
    return (await reply).toString("latin1");
  } finally {
    stream.end();
  }
}
