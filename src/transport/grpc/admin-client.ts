import type { ServiceClientConstructor } from "@grpc/grpc-js";
import { credentials, Metadata } from "@grpc/grpc-js";
import { readableGrpcObject } from "./proto.js";

/** For callers building requests: a Date as a google.protobuf.Timestamp, a unit as its number. */
export { protoTimeFromDate } from "./timestamps.js";
export { protoUnitNumber } from "./admin-units.js";

/**
 * A thin client of floodgate.v1.Admin for the CLI: plain objects in and out (proto3 field
 * names, enum names such as "MINUTE"), the bearer token on every call, and a deadline so a dead
 * server does not hang it.
 */
export interface AdminClient {
  call(method: string, request: object): Promise<unknown>;
  close(): void;
}

/** TLS towards the server; without it the client speaks plain text. */
export interface AdminClientTls {
  /** PEM CA certificates to trust instead of the system's roots. */
  readonly ca?: Buffer;
  /** A client certificate and its key, for a server that requires mTLS. */
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** The name to check the server's certificate against, when it differs from the address's host. */
  readonly serverName?: string;
}

export interface AdminClientOptions {
  readonly address: string;
  readonly token: string;
  readonly tls?: AdminClientTls;
  readonly deadlineMs?: number;
}

// grpc-js's generated-client call shape is (request, metadata, options, callback).
// eslint-disable-next-line max-params
type Unary = (
  req: object,
  md: Metadata,
  opts: { deadline: Date },
  cb: (err: Error | null, res: unknown) => void,
) => void;

function channelOf(tls: AdminClientTls | undefined) {
  if (tls === undefined) return { creds: credentials.createInsecure(), options: {} };
  const creds = credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
  const name = tls.serverName;
  const options =
    name === undefined ? {} : { "grpc.ssl_target_name_override": name, "grpc.default_authority": name };
  return { creds, options };
}

/**
 * VerifyAuditLog walks the log (about 2 s per 100,000 rows, docs/audit-log.md): minutes, not
 * seconds. A call cut short still leaves a checkpoint, so the next one continues from there.
 */
function defaultDeadlineMs(method: string): number {
  return method === "VerifyAuditLog" ? 600_000 : 10_000;
}

export function createAdminClient(options: AdminClientOptions): AdminClient {
  const pkg = readableGrpcObject() as unknown as { floodgate: { v1: { Admin: ServiceClientConstructor } } };
  const channel = channelOf(options.tls);
  const client = new pkg.floodgate.v1.Admin(
    options.address,
    channel.creds,
    channel.options,
  ) as unknown as Record<string, Unary> & { close(): void };
  return {
    call(method, request) {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${options.token}`);
      const deadline = new Date(Date.now() + (options.deadlineMs ?? defaultDeadlineMs(method)));
      return new Promise((resolve, reject) => {
        const fn = client[method];
        if (fn === undefined) return reject(new Error(`unknown admin method ${method}`));
        fn.call(client, request, metadata, { deadline }, (err, res) => (err ? reject(err) : resolve(res)));
      });
    },
    close: () => client.close(),
  };
}
