import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

// The layers of docs/architecture.md ("Layers"), checked on the source text.
const SRC = join(import.meta.dirname, "../../src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".ts") ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^(?:import|export)[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1]!);
}

/**
 * The folders are the layers. A layer may import itself and the layers listed here, nothing else:
 * the hot path (limiting, store) knows nothing of the admin half, the admin half knows no transport,
 * only the composition root (app) knows the database code, and nothing imports app.
 */
const MAY_IMPORT = {
  domain: [],
  config: ["domain"],
  observability: ["domain", "limiting"],
  store: ["domain", "config"],
  limiting: ["domain", "store"],
  admin: ["domain", "config", "observability", "limiting", "store", "admin/auth"],
  "admin/auth": ["domain", "config"],
  "admin/postgres": ["domain", "config", "admin"],
  transport: ["domain", "config", "observability", "limiting", "admin", "admin/auth"],
  app: [
    "domain",
    "config",
    "observability",
    "store",
    "limiting",
    "admin",
    "admin/auth",
    "admin/postgres",
    "transport",
  ],
  unknown: [],
} as const satisfies Record<string, readonly string[]>;

type Layer = keyof typeof MAY_IMPORT;

function layerOf(file: string): Layer {
  const [top, sub] = file.split("/");
  if (top === "admin" && (sub === "auth" || sub === "postgres")) return `admin/${sub}`;
  return top !== undefined && top in MAY_IMPORT && file.includes("/") ? (top as Layer) : "unknown";
}

const ALL = files(SRC).map((file) => ({ file: relative(SRC, file), imports: imports(file) }));

describe("architecture", () => {
  it("finds the source files", () => {
    expect(ALL.length).toBeGreaterThan(20);
  });

  it("domain/ imports nothing of ours outside domain/ and no I/O modules", () => {
    const bad = ALL.filter((f) => f.file.startsWith("domain/")).flatMap((f) =>
      f.imports
        .filter((i) => (i.startsWith(".") && !i.startsWith("./")) || i.startsWith("node:"))
        .map((i) => `${f.file} → ${i}`),
    );
    expect(bad).toEqual([]);
  });

  it('each layer imports only the layers below it (docs/architecture.md, "Layers")', () => {
    const bad = ALL.flatMap((f) => {
      const from = layerOf(f.file);
      return f.imports
        .filter((i) => i.startsWith("."))
        .map((i) => layerOf(relative(SRC, join(SRC, f.file, "..", i))))
        .filter((to) => to !== from && !(MAY_IMPORT[from] as readonly string[]).includes(to))
        .map((to) => `${f.file} (${from}) → ${to}`);
    });
    expect(bad).toEqual([]);
  });

  it("above store/, only its interface is seen (store/bucket-store.ts); app/ wires the stores", () => {
    const bad = ALL.filter((f) => !f.file.startsWith("store/") && !f.file.startsWith("app/")).flatMap((f) =>
      f.imports
        .filter((i) => i.startsWith("."))
        .map((i) => relative(SRC, join(SRC, f.file, "..", i)))
        .filter((target) => target.startsWith("store/") && target !== "store/bucket-store.js")
        .map((target) => `${f.file} → ${target}`),
    );
    expect(bad).toEqual([]);
  });

  it("each I/O library is used in one place (app/ may name its types)", () => {
    const HOME: Record<string, string> = {
      ioredis: "store/redis/",
      "cluster-key-slot": "store/redis/",
      pg: "admin/postgres/",
      "@electric-sql/pglite": "admin/postgres/",
      "@electric-sql/pglite-socket": "admin/postgres/",
      jose: "admin/auth/",
      fastify: "transport/http/",
      "@fastify/swagger": "transport/http/",
      pino: "observability/",
      "prom-client": "observability/",
      chokidar: "config/",
    };
    const typeOnlyInApp = (f: { file: string }, i: string) =>
      f.file.startsWith("app/") &&
      new RegExp(`^import type [^;]*from "${i}"`, "m").test(readFileSync(join(SRC, f.file), "utf8"));
    const bad = ALL.flatMap((f) =>
      f.imports
        .filter((i) => HOME[i] !== undefined && !f.file.startsWith(HOME[i]) && !typeOnlyInApp(f, i))
        .map((i) => `${f.file} → ${i}`),
    );
    expect(bad).toEqual([]);
  });

  it("every source file is in a known layer", () => {
    expect(ALL.filter((f) => layerOf(f.file) === "unknown").map((f) => f.file)).toEqual([]);
  });

  it("only transport/ sees gRPC and generated proto types", () => {
    // The composition root may start the gRPC server, and the operator CLI may use the admin
    // client (plain objects in and out); nothing else reaches into transport/grpc.
    const allowed = (f: { file: string }, i: string) =>
      (f.file === "app/floodgate.ts" && i === "../transport/grpc/server.js") ||
      (f.file.startsWith("app/cli/") && i === "../../transport/grpc/admin-client.js");
    const bad = ALL.filter((f) => !f.file.startsWith("transport/")).flatMap((f) =>
      f.imports
        .filter((i) => (i.startsWith("@grpc/") || i.includes("transport/grpc")) && !allowed(f, i))
        .map((i) => `${f.file} → ${i}`),
    );
    expect(bad).toEqual([]);
  });

  it("only config/settings.ts reads process.env", () => {
    const bad = ALL.filter(
      (f) =>
        f.file !== "config/settings.ts" && readFileSync(join(SRC, f.file), "utf8").includes("process.env"),
    );
    expect(bad.map((f) => f.file)).toEqual([]);
  });

  it("the README's Project layout lists every folder of src/", () => {
    const readme = readFileSync(join(SRC, "../README.md"), "utf8");
    const layout = readme.slice(readme.indexOf("## Project layout"));
    const folders = (dir: string): string[] =>
      readdirSync(dir)
        .filter((name) => statSync(join(dir, name)).isDirectory())
        .flatMap((name) => [join(dir, name), ...folders(join(dir, name))]);
    const missing = folders(SRC)
      .map((dir) => `src/${relative(SRC, dir)}/`)
      .filter((dir) => !layout.includes(`| \`${dir}\``));
    expect(missing).toEqual([]);
  });
});
