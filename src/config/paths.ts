import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The package root, found by walking up from this module to the nearest package.json. The code
 * runs both from src/ (tests) and from dist/src/ (built), so fixed relative paths would break.
 */
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("floodgate: cannot find package.json above " + dir);
    dir = parent;
  }
}

export const PACKAGE_ROOT = findPackageRoot();
export const PROTO_DIR = join(PACKAGE_ROOT, "proto");

export const PACKAGE_VERSION: string = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }
).version;
