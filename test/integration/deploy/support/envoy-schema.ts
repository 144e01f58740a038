import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import protobuf from "protobufjs";
import { isObject } from "./repo.js";

/**
 * Checks an Envoy YAML config against Envoy's own .proto definitions, the way Envoy reads it
 * (YAML → JSON → proto3 JSON mapping), without an Envoy binary. The protos come from the npm
 * package @grpc/grpc-js-xds, which ships Envoy's data-plane API with its dependencies.
 *
 * It reports: unknown fields (a typo is silently a different config in YAML, a startup failure in
 * Envoy), wrong value types, unknown enum values, unknown `@type`s, deprecated fields, and the
 * protoc-gen-validate rules that are easy to break (required messages and oneofs, minimum string
 * length and list size). It does not run Envoy's own semantic checks.
 */

/** Extension configs that our bootstraps embed as `typed_config`; add a file here for a new one. */
const EXTENSION_PROTOS = [
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/ratelimit/v3/rate_limit.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/health_check/v3/health_check.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  // File-based SDS: a DiscoveryResponse of Secrets, read from a path_config_source.
  "envoy/service/discovery/v3/discovery.proto",
  "envoy/extensions/transport_sockets/tls/v3/secret.proto",
];

const DEPS = ["envoy-api", "xds", "protoc-gen-validate", "googleapis"];

function protoRoots(): string[] {
  const require = createRequire(import.meta.url);
  const deps = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
  return DEPS.map((dir) => join(deps, dir));
}

export function loadEnvoyProtos(): protobuf.Root {
  const roots = protoRoots();
  const protobufDir = dirname(createRequire(import.meta.url).resolve("protobufjs/package.json"));
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    // google/protobuf/*: protobufjs's bundled definitions (descriptor.proto ships as a file).
    if (target.startsWith("google/protobuf/")) {
      const bundled = join(protobufDir, target);
      return existsSync(bundled) ? bundled : target;
    }
    return roots.map((dir) => join(dir, target)).find((path) => existsSync(path)) ?? target;
  };
  root.loadSync(["envoy/config/bootstrap/v3/bootstrap.proto", ...EXTENSION_PROTOS], { keepCase: true });
  root.resolveAll();
  return root;
}

const WRAPPERS: Record<string, string> = {
  "google.protobuf.BoolValue": "boolean",
  "google.protobuf.StringValue": "string",
  "google.protobuf.BytesValue": "string",
  "google.protobuf.DoubleValue": "number",
  "google.protobuf.FloatValue": "number",
  "google.protobuf.Int32Value": "integer",
  "google.protobuf.UInt32Value": "unsigned",
  "google.protobuf.Int64Value": "integer",
  "google.protobuf.UInt64Value": "unsigned",
};

const SCALARS: Record<string, string> = {
  string: "string",
  bytes: "string",
  bool: "boolean",
  double: "number",
  float: "number",
  int32: "integer",
  sint32: "integer",
  sfixed32: "integer",
  int64: "integer",
  sint64: "integer",
  sfixed64: "integer",
  uint32: "unsigned",
  fixed32: "unsigned",
  uint64: "unsigned",
  fixed64: "unsigned",
};

function scalarOk(kind: string, value: unknown): boolean {
  if (kind === "string") return typeof value === "string";
  if (kind === "boolean") return typeof value === "boolean";
  // proto3 JSON accepts 64-bit integers as strings too.
  const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number") return false;
  if (kind === "number") return Number.isFinite(n);
  return Number.isInteger(n) && (kind === "integer" || n >= 0);
}

type Rules = Record<string, unknown>;

class Checker {
  readonly problems: string[] = [];

  constructor(private readonly root: protobuf.Root) {}

  message(type: protobuf.Type, value: unknown, path: string): void {
    const name = type.fullName.replace(/^\./, "");
    if (this.wellKnown(name, value, path)) return;
    if (!isObject(value)) return this.fail(path, `expected a mapping for ${name}`);
    const byJsonName = new Map(type.fieldsArray.map((f) => [protobuf.util.camelCase(f.name), f]));
    for (const [key, child] of Object.entries(value)) {
      const field = type.fields[key] ?? byJsonName.get(key);
      if (field === undefined) {
        this.fail(`${path}.${key}`, `unknown field of ${name}`);
        continue;
      }
      if (field.options?.deprecated === true) this.fail(`${path}.${key}`, `deprecated field of ${name}`);
      this.field(field, child, `${path}.${key}`);
    }
    this.messageRules(type, value, path);
  }

  private messageRules(type: protobuf.Type, value: Record<string, unknown>, path: string): void {
    const present = (f: protobuf.Field) =>
      value[f.name] !== undefined || value[protobuf.util.camelCase(f.name)] !== undefined;
    for (const oneof of type.oneofsArray) {
      if (oneof.name.startsWith("_")) continue; // proto3 `optional`, not a real oneof
      const set = oneof.fieldsArray.filter(present).map((f) => f.name);
      if (set.length > 1) this.fail(path, `only one of ${set.join(", ")} may be set`);
      if (set.length === 0 && oneof.options?.["(validate.required)"] === true) {
        this.fail(path, `one of ${oneof.fieldsArray.map((f) => f.name).join(", ")} is required`);
      }
    }
    // An absent field has its default value (empty message, "", []), which these rules reject.
    // Rules on a member of a oneof apply only when that member is the one set.
    for (const field of type.fieldsArray) {
      if (present(field) || (field.partOf !== null && !field.partOf.name.startsWith("_"))) continue;
      const rules: Rules = field.options ?? {};
      const minLen = rules["(validate.rules).string.min_len"];
      const minItems = rules["(validate.rules).repeated.min_items"];
      if (
        rules["(validate.rules).message.required"] === true ||
        (typeof minLen === "number" && minLen > 0) ||
        (typeof minItems === "number" && minItems > 0)
      ) {
        this.fail(`${path}.${field.name}`, "required");
      }
    }
  }

  private field(field: protobuf.Field, value: unknown, path: string): void {
    const rules: Rules = field.options ?? {};
    if (field instanceof protobuf.MapField) {
      if (!isObject(value)) return this.fail(path, "expected a mapping");
      for (const [key, child] of Object.entries(value)) this.single(field, child, `${path}[${key}]`);
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) return this.fail(path, "expected a list");
      const min = rules["(validate.rules).repeated.min_items"];
      if (typeof min === "number" && value.length < min) this.fail(path, `at least ${min} items`);
      value.forEach((child, i) => this.single(field, child, `${path}[${i}]`));
      return;
    }
    this.single(field, value, path);
  }

  private single(field: protobuf.Field, value: unknown, path: string): void {
    const type = field.resolvedType;
    if (type instanceof protobuf.Type) return this.message(type, value, path);
    if (type instanceof protobuf.Enum) {
      const ok =
        typeof value === "string"
          ? value in type.values
          : Object.values(type.values).includes(value as number);
      if (!ok) this.fail(path, `not a value of ${type.fullName}: ${String(value)}`);
      return;
    }
    const kind = SCALARS[field.type];
    if (kind === undefined) return this.fail(path, `unhandled proto type ${field.type}`);
    if (!scalarOk(kind, value))
      return this.fail(path, `expected ${kind} (${field.type}), got ${JSON.stringify(value)}`);
    const minLen = (field.options ?? {})["(validate.rules).string.min_len"];
    if (typeof minLen === "number" && typeof value === "string" && value.length < minLen) {
      this.fail(path, `at least ${minLen} characters`);
    }
  }

  /** The well-known types, which proto3 JSON writes in their own special forms. */
  private wellKnown(name: string, value: unknown, path: string): boolean {
    const wrapped = WRAPPERS[name];
    if (wrapped !== undefined) {
      if (!scalarOk(wrapped, value)) this.fail(path, `expected ${wrapped} for ${name}`);
      return true;
    }
    switch (name) {
      case "google.protobuf.Duration":
        if (typeof value !== "string" || !/^-?\d+(\.\d{1,9})?s$/.test(value)) {
          this.fail(path, `expected a duration such as "0.25s", got ${JSON.stringify(value)}`);
        }
        return true;
      case "google.protobuf.Struct":
      case "google.protobuf.Value":
      case "google.protobuf.ListValue":
        return true;
      case "google.protobuf.Empty":
        if (!isObject(value) || Object.keys(value).length > 0) this.fail(path, "expected {}");
        return true;
      case "google.protobuf.Any":
        this.any(value, path);
        return true;
      default:
        return false;
    }
  }

  private any(value: unknown, path: string): void {
    if (!isObject(value)) return this.fail(path, "expected a mapping with @type");
    const url = value["@type"];
    const match = typeof url === "string" ? /^type\.googleapis\.com\/(.+)$/.exec(url) : null;
    if (match === null) return this.fail(path, `bad @type ${JSON.stringify(url)}`);
    let type: protobuf.Type;
    try {
      type = this.root.lookupType(match[1]!);
    } catch {
      return this.fail(path, `unknown @type ${match[1]} (or its .proto is not in EXTENSION_PROTOS)`);
    }
    const { ["@type"]: _type, ...rest } = value;
    this.message(type, rest, path);
  }

  private fail(path: string, message: string): void {
    this.problems.push(`${path}: ${message}`);
  }
}

/** Problems of `config` as a message of `typeName` (e.g. envoy.config.bootstrap.v3.Bootstrap). */
export function checkEnvoyConfig(root: protobuf.Root, config: unknown, typeName: string): string[] {
  const checker = new Checker(root);
  checker.message(root.lookupType(typeName), config, "$");
  return checker.problems;
}
