/**
 * Wildcard values of the reference server: `*` anywhere in a rule value matches zero or more
 * characters, and a pattern may hold several. Matchers are compiled once, when a RuleSet is built,
 * so the hot path never constructs a RegExp.
 */

/** True when a rule value is a pattern rather than an exact value. */
export function isWildcardPattern(value: string): boolean {
  return value.includes("*");
}

const REGEX_METACHARS = /[.+?^${}()|[\]\\/-]/g;

/**
 * Compiles a pattern to a matcher. The common shapes (`*`, `prefix*`, `*suffix`) avoid the regex
 * engine entirely; anything else becomes one anchored RegExp with every metachar escaped.
 */
export function compileWildcard(pattern: string): (value: string) => boolean {
  const parts = pattern.split("*");
  if (parts.length === 1) {
    return (value) => value === pattern;
  }
  if (parts.every((part) => part === "")) {
    return () => true;
  }
  const [first = "", ...rest] = parts;
  const last = rest[rest.length - 1] ?? "";
  if (parts.length === 2 && last === "") {
    return (value) => value.startsWith(first);
  }
  if (parts.length === 2 && first === "") {
    return (value) => value.endsWith(last);
  }
  const source = parts.map((part) => part.replace(REGEX_METACHARS, "\\$&")).join(".*");
  // `s`: a value may contain newlines, and `.*` must still span them.
  const regex = new RegExp(`^${source}$`, "s");
  const minLength = pattern.length - (parts.length - 1);
  return (value) => value.length >= minLength && regex.test(value);
}
