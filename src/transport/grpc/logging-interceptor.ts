import type {
  ServerInterceptingCallInterface,
  ServerInterceptor,
  ServerMethodDefinition,
} from "@grpc/grpc-js";
import { ResponderBuilder, ServerInterceptingCall, status } from "@grpc/grpc-js";
import type { Logger } from "../../observability/logger.js";

/**
 * One access-log line per RPC: the method, the status code and the duration, never a payload.
 * Successful calls log at debug (off in production, and then nothing is formatted); failed calls
 * at info. The handlers log the cause of a failure separately, with the request id.
 */
export function loggingInterceptor(logger: Logger): ServerInterceptor {
  return (
    methodDescriptor: ServerMethodDefinition<unknown, unknown>,
    call: ServerInterceptingCallInterface,
  ) => {
    const start = performance.now();
    const responder = new ResponderBuilder()
      .withSendStatus((statusObject, next) => {
        const failed = statusObject.code !== status.OK;
        if (failed || logger.isLevelEnabled("debug")) {
          const ms = Math.round((performance.now() - start) * 1000) / 1000;
          logger[failed ? "info" : "debug"](
            { rpc: methodDescriptor.path, code: status[statusObject.code], ms },
            "rpc",
          );
        }
        next(statusObject);
      })
      .build();
    return new ServerInterceptingCall(call, responder);
  };
}
