/**
 * Wildcard values of the reference server: `*` anywhere in a rule value matches zero or more
 * characters, and a pattern may hold several. Matchers are compiled once, when a RuleSet is built.
 */

/** True when a rule value is a pattern rather than an exact value. */
export function isWildcardPattern(value: string): boolean {
  return value.includes("*");
}

/**
 * Compiles a pattern to a matcher that runs in linear time whatever the value: a value is the
 * client's (a header, the path) and may be as long as the message cap allows, so no backtracking
 * RegExp (which took cubic time for `x*a*a*y`). The first part must start the value and the last
 * end it; each part in between is taken at its leftmost place after the one before, which finds a
 * match whenever there is one, since a `*` takes any run of characters.
 */
export function compileWildcard(pattern: string): (value: string) => boolean {
  const parts = pattern.split("*");
  if (parts.length === 1) return (value) => value === pattern;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  const middle = parts.slice(1, -1).filter((part) => part !== "");
  const minLength = first.length + last.length + middle.reduce((n, part) => n + part.length, 0);
  return (value) => {
    if (value.length < minLength || !value.startsWith(first) || !value.endsWith(last)) return false;
    const end = value.length - last.length;
    let at = first.length;
    for (const part of middle) {
      const found = value.indexOf(part, at);
      if (found < 0 || found + part.length > end) return false;
      at = found + part.length;
    }
    return true;
  };
}
