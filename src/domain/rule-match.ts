import type { DescriptorEntry, DescriptorLevel, DescriptorNode, DomainRules, RuleMatch } from "./rules.js";

/**
 * Finds the rule node for one request descriptor, with the reference server's semantics: at each
 * level the exact key+value node wins, then the first wildcard (file order) whose pattern matches,
 * then the key-only default. The walk is greedy and never backtracks: once a level picks a node,
 * a miss further down is a miss, even if another branch would have matched. The result is the
 * node reached by the last entry, so the request's depth must equal the node's depth.
 *
 * This runs for every descriptor of every request: it allocates only the result object (and a
 * bucket-entry array when a share_threshold node is on the path).
 */
export function matchDescriptor(
  rules: DomainRules,
  entries: readonly DescriptorEntry[],
): RuleMatch | undefined {
  if (entries.length === 0) {
    return undefined;
  }
  let level = rules.root;
  let node: DescriptorNode | undefined;
  let shared: DescriptorEntry[] | undefined;
  let depth = 0;
  for (const entry of entries) {
    node = findNode(level, entry);
    if (node === undefined) {
      return undefined;
    }
    if (node.shareThreshold && node.value !== undefined) {
      shared ??= entries.slice(0, depth);
      shared.push({ key: entry.key, value: node.value });
    } else if (shared !== undefined) {
      shared.push(entry);
    }
    level = node.children;
    depth++;
  }
  return node === undefined ? undefined : { node, bucketEntries: shared ?? entries };
}

function findNode(level: DescriptorLevel, entry: DescriptorEntry): DescriptorNode | undefined {
  const exact = level.exact.get(entry.key)?.get(entry.value);
  if (exact !== undefined) {
    return exact;
  }
  const wildcards = level.wildcards.get(entry.key);
  if (wildcards !== undefined) {
    for (const wildcard of wildcards) {
      if (wildcard.matches(entry.value)) {
        return wildcard.node;
      }
    }
  }
  return level.defaults.get(entry.key);
}
