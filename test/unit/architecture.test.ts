import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

// DESIGN §1 import rules, checked on the source text.
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

  it("transport/ never imports store/", () => {
    const bad = ALL.filter((f) => f.file.startsWith("transport/")).flatMap((f) =>
      f.imports.filter((i) => i.includes("/store/")).map((i) => `${f.file} → ${i}`),
    );
    expect(bad).toEqual([]);
  });

  it("only transport/ sees gRPC and generated proto types", () => {
    // The composition root may start the gRPC server, and the operator CLI may use the admin
    // client (plain objects in and out); nothing else reaches into transport/grpc.
    const allowed = (f: { file: string }, i: string) =>
      (f.file === "main.ts" && i === "./transport/grpc/server.js") ||
      (f.file.startsWith("cli/") && i === "../transport/grpc/admin-client.js");
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
});
