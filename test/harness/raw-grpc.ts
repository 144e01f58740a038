/**
 * gRPC methods spoken in raw bytes: identity serializers, so no .proto is needed on this side and
 * nothing is decoded. Used by the tests' raw clients and by the bench's baseline server.
 */
import type { MethodDefinition } from "@grpc/grpc-js";

const identity = (bytes: Buffer): Buffer => bytes;

export interface RawMethodOptions {
  readonly requestStream?: boolean;
  readonly responseStream?: boolean;
}

/** The definition of the method at `path` ("/package.Service/Method"); unary unless told. */
export function rawMethod(path: string, options: RawMethodOptions = {}): MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: options.requestStream ?? false,
    responseStream: options.responseStream ?? false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}
