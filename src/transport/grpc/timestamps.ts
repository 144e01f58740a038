/**
 * Milliseconds → google.protobuf.Timestamp / Duration ({seconds, nanos}; both messages have that
 * shape). Zero fields are left unset, as protoc-generated encoders leave them off the wire.
 */
export interface ProtoTime {
  readonly seconds: number | undefined;
  readonly nanos: number | undefined;
}

export function protoTimeFromMs(ms: number): ProtoTime {
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000;
  return { seconds: seconds === 0 ? undefined : seconds, nanos: nanos === 0 ? undefined : nanos };
}

export function protoTimeFromDate(date: Date | undefined): ProtoTime | undefined {
  return date === undefined ? undefined : protoTimeFromMs(date.getTime());
}
