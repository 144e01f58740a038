import { createLocalJWKSet, createRemoteJWKSet, errors } from "jose";
import type { JWTVerifyGetKey } from "jose";
import { backoffMs } from "../../domain/backoff.js";
import { errorWithCause } from "./keys.js";

/**
 * The keys behind ADMIN_JWKS_URL (docs/admin-auth.md, "ADMIN_JWKS_URL: caching and outages").
 *
 * jose fetches and validates the set (timeout, no redirects, 200 and JSON only, one fetch at a
 * time) and selects the key for a token; this module decides WHEN to fetch, which jose's own
 * remote set does not bound: after a failed fetch it refetches on every call. Here a failed
 * fetch is retried with exponential backoff, and meanwhile the last good set keeps being used
 * for a bounded time. That bound is a security trade-off: a key removed from the JWKS (revoked)
 * stays usable while the URL cannot be reached, for at most `maxStaleMs` past the normal cache
 * age, and then every token is refused until a fetch succeeds.
 */
export interface JwksUrlOptions {
  /** Timeout of one fetch. */
  readonly fetchTimeoutMs: number;
  /** After a fetch, how long before a token with an unknown `kid` may trigger another one. */
  readonly cooldownMs: number;
  /** How long a fetched set is used before it is refetched. */
  readonly cacheMaxAgeMs: number;
  /** The wait after the first failed fetch; it doubles with each further failure... */
  readonly backoffMinMs: number;
  /** ...up to this. */
  readonly backoffMaxMs: number;
  /** How long past `cacheMaxAgeMs` the last good set may still be used while fetches fail. */
  readonly maxStaleMs: number;
  /** Wall clock, ms. */
  readonly now: () => number;
  /** Told about each failed fetch (at most one per backoff wait), for the log. */
  readonly onFetchError?: (failure: JwksFetchFailure) => void;
}

export interface JwksFetchFailure {
  /** What went wrong, for the log (the error's message and its cause's). */
  readonly reason: string;
  /** Consecutive failed fetches, this one included. */
  readonly failures: number;
  /** When the next fetch may happen. */
  readonly retryInMs: number;
  /** The age of the set still in use, or undefined when there is none. */
  readonly staleSetAgeMs: number | undefined;
}

export const JWKS_URL_DEFAULTS: Omit<JwksUrlOptions, "now" | "onFetchError"> = {
  fetchTimeoutMs: 5000,
  cooldownMs: 30_000,
  cacheMaxAgeMs: 10 * 60_000,
  backoffMinMs: 1000,
  backoffMaxMs: 60_000,
  maxStaleMs: 20 * 60_000,
};

type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

/** A key function for jwtVerify, backed by a JWKS URL with the policy above. */
export function remoteKeySet(url: string, options: JwksUrlOptions): JWTVerifyGetKey {
  const keys = new RemoteKeys(new URL(url), options);
  return (header, token) => keys.getKey(header, token);
}

class RemoteKeys {
  private readonly remote: ReturnType<typeof createRemoteJWKSet>;
  private current: { readonly keys: LocalKeySet; readonly fetchedAt: number } | undefined;
  private pending: Promise<void> | undefined;
  private lastFetchAt = -Infinity;
  private failures = 0;
  private retryAt = -Infinity;
  private lastError: unknown;

  constructor(
    url: URL,
    private readonly options: JwksUrlOptions,
  ) {
    // Only reload() and jwks() are used: jose's own refetch-on-use would bypass the backoff.
    this.remote = createRemoteJWKSet(url, { timeoutDuration: options.fetchTimeoutMs });
  }

  async getKey(...args: Parameters<LocalKeySet>): ReturnType<LocalKeySet> {
    const { cacheMaxAgeMs, cooldownMs } = this.options;
    if (this.olderThan(cacheMaxAgeMs) && this.mayFetch()) await this.refresh();
    try {
      return await this.usable()(...args);
    } catch (err) {
      // A rotated-in key: refetch, at most once per cooldown and never while backing off.
      const cooled = this.options.now() - this.lastFetchAt >= cooldownMs;
      if (!(err instanceof errors.JWKSNoMatchingKey) || !cooled || !this.mayFetch()) throw err;
      await this.refresh();
      return this.usable()(...args);
    }
  }

  private olderThan(ms: number): boolean {
    return this.current === undefined || this.options.now() - this.current.fetchedAt >= ms;
  }

  private mayFetch(): boolean {
    return this.options.now() >= this.retryAt;
  }

  /** The current set while it is within the staleness bound; otherwise why there is none. */
  private usable(): LocalKeySet {
    const { cacheMaxAgeMs, maxStaleMs } = this.options;
    if (this.current !== undefined && !this.olderThan(cacheMaxAgeMs + maxStaleMs)) return this.current.keys;
    const why =
      this.current === undefined
        ? "no JWKS fetched yet"
        : `the last JWKS was fetched ${this.options.now() - this.current.fetchedAt} ms ago, beyond the staleness bound`;
    const retry = Math.max(0, this.retryAt - this.options.now());
    throw new Error(`${why}; fetch failed ${this.failures} time(s), next attempt in ${retry} ms`, {
      cause: this.lastError,
    });
  }

  /** One fetch at a time, whoever asks: each failure counts once towards the backoff. */
  private refresh(): Promise<void> {
    this.pending ??= this.fetch().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async fetch(): Promise<void> {
    this.lastFetchAt = this.options.now();
    try {
      await this.remote.reload();
      this.current = { keys: createLocalJWKSet(this.remote.jwks()!), fetchedAt: this.options.now() };
      this.failures = 0;
      this.retryAt = -Infinity;
      this.lastError = undefined;
    } catch (err) {
      this.failed(err);
    }
  }

  private failed(error: unknown): void {
    const { backoffMinMs, backoffMaxMs, now } = this.options;
    this.failures += 1;
    const retryInMs = backoffMs(this.failures, { minMs: backoffMinMs, maxMs: backoffMaxMs });
    this.retryAt = now() + retryInMs;
    this.lastError = error;
    const staleSetAgeMs = this.current === undefined ? undefined : now() - this.current.fetchedAt;
    const reason = errorWithCause(error);
    this.options.onFetchError?.({ reason, failures: this.failures, retryInMs, staleSetAgeMs });
  }
}
