import type { DescriptorLevel } from "./rules.js";

/** Number of rate_limit blocks (unlimited ones included) in a level and all the levels below it. */
export function countRules(level: DescriptorLevel): number {
  const nodes = [
    ...level.defaults.values(),
    ...[...level.exact.values()].flatMap((byValue) => [...byValue.values()]),
    ...[...level.wildcards.values()].flatMap((list) => list.map((wildcard) => wildcard.node)),
  ];
  let count = 0;
  for (const node of nodes) count += (node.rateLimit === undefined ? 0 : 1) + countRules(node.children);
  return count;
}
