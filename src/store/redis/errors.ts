/**
 * Redis errors are classified once, here at the adapter: transient failures make
 * the caller fall back to the local store; anything else is a bug and surfaces as such. The
 * breaker reads only `transient`; metrics read `kind`, a small fixed set of label values.
 */
export const REDIS_ERROR_KINDS = [
  "timeout",
  "connection",
  "cluster",
  "loading",
  "readonly",
  "busy",
  "oom",
  "bug",
] as const;
export type RedisErrorKind = (typeof REDIS_ERROR_KINDS)[number];

export class StoreError extends Error {
  readonly transient: boolean;
  readonly kind: RedisErrorKind;

  constructor(kind: RedisErrorKind, message: string) {
    super(message);
    this.name = "StoreError";
    this.kind = kind;
    this.transient = kind !== "bug";
  }
}

/** First match wins; each pattern is tested against the error's name and message. */
const RULES: readonly (readonly [RedisErrorKind, RegExp])[] = [
  ["timeout", /Command timed out|ETIMEDOUT|timed? ?out/i],
  [
    "cluster",
    /^(CLUSTERDOWN|TRYAGAIN|MOVED|ASK)\b|ClusterAllFailedError|Too many Cluster redirections|refresh slots cache/,
  ],
  ["loading", /^LOADING\b/],
  ["readonly", /^(READONLY|MASTERDOWN|NOREPLICAS)\b/],
  ["busy", /^BUSY\b/],
  ["oom", /^OOM\b/],
  [
    "connection",
    // Cluster: "Cluster is disconnected.", "Node is disconnected", "None of startup nodes is
    // available"; Sentinel: "failed to connect to sentinel …" (ioredis' own wording).
    /Connection is closed|Stream isn't writeable|enableOfflineQueue|ECONNREFUSED|ECONNRESET|EPIPE|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|max retries per request|sentinels? (are|is) (un)?available|All sentinels|failed to connect to sentinel|None of startup nodes|is disconnect(ed|ing)|Connection timeout|socket|closed/i,
  ],
];

export function classifyRedisError(error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.name : "";
  for (const [kind, pattern] of RULES) {
    if (pattern.test(message) || pattern.test(name)) return new StoreError(kind, message);
  }
  return new StoreError("bug", message);
}

export function isTransient(error: unknown): boolean {
  return error instanceof StoreError && error.transient;
}
