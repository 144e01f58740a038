/**
 * Server (a), the baseline: a bare @grpc/grpc-js server whose ShouldRateLimit answers one response
 * encoded at startup and never decodes the request (identity serializers). What is left is the cost
 * of the gRPC transport itself, which no rate limiter on grpc-js can go below.
 */
import type { sendUnaryData, ServerUnaryCall, ServiceDefinition } from "@grpc/grpc-js";
import { Server } from "@grpc/grpc-js";
import type { MethodDefinition } from "@grpc/proto-loader";
import { packageDefinition, RLS_SERVICE } from "../src/transport/grpc/proto.js";
import { rawMethod } from "../test/harness/raw-grpc.js";
import { reportFailure, serveGrpcParent } from "./child.js";
import { RLS_PATH } from "./workload.js";

const RAW_RLS: ServiceDefinition = { ShouldRateLimit: rawMethod(RLS_PATH) };

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
  await serveGrpcParent(server, { requests: () => requests });
}

main().catch(reportFailure);
