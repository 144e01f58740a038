import { readFile } from "node:fs/promises";
import type { CliTls } from "../../config/settings.js";
import type { AdminClientTls } from "../../transport/grpc/admin-client.js";
import type { Options, Values } from "./args.js";
import { str, UsageError } from "./args.js";

/**
 * How `floodgate admin` reaches a TLS or mTLS server. A flag wins over its environment variable
 * (FLOODGATE_TLS, FLOODGATE_TLS_CA_FILE, FLOODGATE_TLS_CERT_FILE, FLOODGATE_TLS_KEY_FILE); any of
 * them turns TLS on.
 */
export const TLS_FLAGS: Options = {
  tls: { type: "boolean" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  "server-name": { type: "string" },
};

/** A file to read, and the flag or variable that named it (for the error message). */
interface Named {
  readonly path: string;
  readonly name: string;
}

function pick(values: Values, flag: string, variable: { name: string; value: string | undefined }) {
  const path = str(values, flag);
  if (path !== undefined) return { path, name: `--${flag}` };
  return variable.value === undefined ? undefined : { path: variable.value, name: variable.name };
}

async function read(file: Named | undefined): Promise<Buffer | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(file.path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new UsageError(`${file.name}: cannot read ${JSON.stringify(file.path)} (${code})`);
  }
}

/** Undefined: plain text. */
export async function clientTls(values: Values, env: CliTls): Promise<AdminClientTls | undefined> {
  const ca = pick(values, "ca", { name: "FLOODGATE_TLS_CA_FILE", value: env.caFile });
  const cert = pick(values, "cert", { name: "FLOODGATE_TLS_CERT_FILE", value: env.certFile });
  const key = pick(values, "key", { name: "FLOODGATE_TLS_KEY_FILE", value: env.keyFile });
  const serverName = str(values, "server-name");
  const any = [ca, cert, key, serverName].some((v) => v !== undefined);
  if (!(values["tls"] === true || env.enabled || any)) return undefined;
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError("--cert and --key (FLOODGATE_TLS_CERT_FILE, FLOODGATE_TLS_KEY_FILE) go together");
  }
  const [caPem, certPem, keyPem] = await Promise.all([read(ca), read(cert), read(key)]);
  return { ca: caPem, cert: certPem, key: keyPem, serverName };
}
