import { join } from "node:path";
import { PACKAGE_ROOT } from "../src/config/paths.js";

/** The built `floodgate` command (package.json "bin"), as the bench starts it. */
export const BUILT_CLI = join(PACKAGE_ROOT, "dist", "src", "app", "cli.js");
