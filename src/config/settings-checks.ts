import type { ParsedSettings } from "./settings.js";

/**
 * The rules between variables, each valid on its own (settings.ts parses them one by one): what
 * must come together, what excludes what. Every problem names its variables.
 */

/** The admin API's key sources that are set (exactly one turns the admin API on). */
export function adminKeySources(s: ParsedSettings): string[] {
  return [s.ADMIN_JWKS_FILE, s.ADMIN_JWKS_URL, s.ADMIN_PUBLIC_KEY_FILE].filter((v) => v !== undefined);
}

/** TLS to Redis: REDIS_TLS=true, or a rediss:// URL. */
export function redisTlsOn(s: ParsedSettings): boolean {
  return s.REDIS_TLS || (s.REDIS_URL?.startsWith("rediss://") ?? false);
}

/**
 * Redis TLS files come as a certificate and key pair, and only with TLS on: the operator clearly
 * meant TLS, and a silent plain-text connection is worse than refusing to start.
 */
function redisTlsProblems(s: ParsedSettings): string[] {
  const problems: string[] = [];
  if ((s.REDIS_TLS_CERT_FILE === undefined) !== (s.REDIS_TLS_KEY_FILE === undefined)) {
    problems.push("REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE: set both or neither");
  }
  const files = {
    REDIS_TLS_CA_FILE: s.REDIS_TLS_CA_FILE,
    REDIS_TLS_CERT_FILE: s.REDIS_TLS_CERT_FILE,
    REDIS_TLS_KEY_FILE: s.REDIS_TLS_KEY_FILE,
  };
  const set = Object.entries(files).flatMap(([name, path]) => (path === undefined ? [] : [name]));
  if (set.length > 0 && !redisTlsOn(s)) {
    problems.push(`${set.join(", ")}: set, but TLS is off (use a rediss:// URL or REDIS_TLS=true)`);
  }
  return problems;
}

/** One Redis topology at a time, and each with what it needs. */
function topologyProblems(s: ParsedSettings): string[] {
  const chosen = [s.REDIS_URL, s.REDIS_CLUSTER_NODES, s.REDIS_SENTINELS].filter(
    (v) => v !== undefined,
  ).length;
  const problems: string[] = [];
  if (chosen > 1) problems.push("REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS: set only one of them");
  if (s.REDIS_SENTINELS !== undefined && s.REDIS_SENTINEL_MASTER === undefined) {
    problems.push("REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS");
  }
  return problems;
}

/** Certificate and key come together; a client CA needs them (mTLS is TLS first). */
function tlsProblems(s: ParsedSettings): string[] {
  const problems: string[] = [];
  if ((s.TLS_CERT_FILE === undefined) !== (s.TLS_KEY_FILE === undefined)) {
    problems.push("TLS_CERT_FILE, TLS_KEY_FILE: set both or neither");
  }
  if (s.TLS_CLIENT_CA_FILE !== undefined && s.TLS_CERT_FILE === undefined) {
    problems.push("TLS_CLIENT_CA_FILE: needs TLS_CERT_FILE and TLS_KEY_FILE");
  }
  return problems;
}

function listenerProblems(s: ParsedSettings): string[] {
  const problems: string[] = [];
  if (s.HTTP_HEADERS_TIMEOUT_MS > s.HTTP_REQUEST_TIMEOUT_MS) {
    problems.push("HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS");
  }
  const admin = s.ADMIN_GRPC_PORT;
  if (admin !== undefined && admin !== 0 && (admin === s.GRPC_PORT || admin === s.HTTP_PORT)) {
    problems.push("ADMIN_GRPC_PORT: must differ from GRPC_PORT and HTTP_PORT");
  }
  return problems;
}

function breakerProblems(s: ParsedSettings): string[] {
  return s.BREAKER_MAX_COOLDOWN_MS !== undefined && s.BREAKER_MAX_COOLDOWN_MS < s.BREAKER_COOLDOWN_MS
    ? ["BREAKER_MAX_COOLDOWN_MS: must be at least BREAKER_COOLDOWN_MS"]
    : [];
}

/** Embedded PGlite belongs to one process; several workers need a shared Postgres. */
function workerProblems(s: ParsedSettings): string[] {
  if (s.WORKERS > 1 && adminKeySources(s).length > 0 && s.DATABASE_URL === undefined) {
    return [
      "WORKERS: more than 1 worker with the admin API needs DATABASE_URL (embedded PGlite serves one process)",
    ];
  }
  return [];
}

function adminProblems(s: ParsedSettings): string[] {
  const sources = adminKeySources(s);
  const problems: string[] = [];
  if (sources.length > 1)
    problems.push("ADMIN_JWKS_FILE, ADMIN_JWKS_URL, ADMIN_PUBLIC_KEY_FILE: set only one");
  if (sources.length === 1 && s.ADMIN_JWT_ISSUER === undefined)
    problems.push("ADMIN_JWT_ISSUER: required with an admin key");
  if (sources.length === 1 && s.ADMIN_JWT_AUDIENCE === undefined) {
    problems.push("ADMIN_JWT_AUDIENCE: required with an admin key");
  }
  return problems;
}

/** Every conflict between the variables, in a stable order. */
export function conflictsOf(s: ParsedSettings): string[] {
  return [
    ...topologyProblems(s),
    ...redisTlsProblems(s),
    ...adminProblems(s),
    ...workerProblems(s),
    ...breakerProblems(s),
    ...tlsProblems(s),
    ...listenerProblems(s),
  ];
}
