import type { Field, Where, YamlContext } from "./rules-yaml.js";
import {
  deref,
  describe,
  isFloat,
  isList,
  isMapping,
  readList,
  readMap,
  report,
  warn,
} from "./rules-yaml.js";

/**
 * Keys the reference server accepts in a place where they do nothing. Its loader checks every key
 * of a file against one flat list of known keys (`validKeys`), wherever the key sits, and then
 * decodes the file into structs that ignore whatever has no field at that level: `name` on a
 * descriptor, `shadow_mode` inside `rate_limit` or `key` at the top level load and have no effect.
 * Floodgate loads such a file too, with a warning per key; `config validate --strict` refuses it.
 * A key the reference server does not know at all stays an error, as there.
 */

/** The reference server's `validKeys`: every key it accepts, anywhere in a file. */
const REFERENCE_KEYS: ReadonlySet<string> = new Set([
  "domain",
  "key",
  "value",
  "descriptors",
  "rate_limit",
  "unit",
  "requests_per_unit",
  "unlimited",
  "name",
  "replaces",
  "shadow_mode",
  "detailed_metric",
  "quota_mode",
  "value_to_metric",
  "share_threshold",
  "metadata",
]);

/** Where a key does something, for the warning's hint. */
function homeOf(name: string): string {
  if (name === "domain") return "at the top level";
  if (name === "descriptors") return "at the top level or on a descriptor";
  const inRateLimit = ["unit", "requests_per_unit", "unlimited", "name", "replaces"];
  return inRateLimit.includes(name) ? "inside rate_limit" : "on a descriptor";
}

/** Where a mapping sits, as the warning says it. */
export type Place = "at the top level" | "on a descriptor" | "inside rate_limit" | "in a replaces entry";

/**
 * The `ignore` hook of a mapping at `place` (see `readMap`): a reference key that is not allowed
 * there gets a warning (an issue when strict), and its value is checked as the reference server
 * checks it.
 */
export function ignoreReferenceKeys(ctx: YamlContext, place: Place): (field: Field) => boolean {
  return (field) => {
    if (!REFERENCE_KEYS.has(field.name)) return false;
    const message = `has no effect: the reference server ignores '${field.name}' ${place} (it belongs ${homeOf(field.name)})`;
    if (ctx.strict) report(ctx, field, `${message}; --strict refuses it`);
    else warn(ctx, field, message);
    checkIgnoredValue(ctx, field);
    return true;
  };
}

/**
 * What the reference server refuses even in a value it then ignores: an unknown key in a nested
 * mapping, a list of anything but mappings, and a float.
 */
function checkIgnoredValue(ctx: YamlContext, field: Field): void {
  const node = deref(ctx, field.node);
  if (isMapping(ctx, node)) {
    const fields = readMap(ctx, node, { path: field.path, line: field.line, allowed: REFERENCE_KEYS });
    for (const nested of fields?.values() ?? []) checkIgnoredValue(ctx, nested);
  } else if (isList(ctx, node)) {
    for (const item of readList(ctx, field) ?? []) {
      const where: Where = { path: item.path, line: item.line };
      if (!isMapping(ctx, item.node)) {
        report(ctx, where, `must be a mapping, got ${describe(deref(ctx, item.node))}`);
        continue;
      }
      checkIgnoredValue(ctx, { name: "", node: item.node, ...where });
    }
  } else if (isFloat(ctx, node)) {
    report(ctx, field, `must not be ${describe(node)}: the reference server refuses a float anywhere`);
  }
}
