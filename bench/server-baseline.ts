/**
 * Server (a), the baseline: a bare @grpc/grpc-js server whose ShouldRateLimit answers one response
 * encoded at startup and never decodes the request (identity serializers). What is left is the cost
 * of the gRPC transport itself, which no rate limiter on grpc-js can go below.
 */
import type { sendUnaryData, ServerUnaryCall, ServiceDefinition } from "@grpc/grpc-js";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import type { MethodDefinition } from "@grpc/proto-loader";
import { packageDefinition, RLS_SERVICE } from "../src/transport/grpc/proto.js";
import { reportFailure, serveParent } from "./child.js";
import { RLS_PATH } from "./workload.js";

const identity = (bytes: Buffer): Buffer => bytes;

const RAW_RLS: ServiceDefinition = {
  ShouldRateLimit: {
    path: RLS_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** overall_code OK, encoded once with the real message type. */
function okResponse(): Buffer {
  const service = packageDefinition()[RLS_SERVICE] as Record<string, MethodDefinition<unknown, unknown>>;
  return service.ShouldRateLimit!.responseSerialize({ overall_code: 1 });
}

async function main(): Promise<void> {
  const response = okResponse();
  let requests = 0;
  const server = new Server();
  server.addService(RAW_RLS, {
    ShouldRateLimit: (_call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      requests++;
      callback(null, response);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  serveParent({
    ready: { grpcPort: port },
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  });
}

main().catch(reportFailure);
