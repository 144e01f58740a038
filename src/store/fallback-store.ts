import type { CircuitBreakerPolicy, IBackoff, IBackoffFactory } from "cockatiel";
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from "cockatiel";
import type { BucketSpec, KeyedCheck } from "../domain/bucket.js";
import type { StoreDecision } from "./bucket-store.js";
import { startIdleProbe } from "./idle-probe.js";
import type { KeyedBucketStore } from "./keyed-store.js";
import { keyedChecks } from "./keys.js";
import type { RedisErrorKind } from "./redis/errors.js";
import { classifyRedisError, isTransient, StoreError } from "./redis/errors.js";

/**
 * Redis first, the local store when Redis fails (fail open: README, "When Redis fails").
 *
 * - A transient failure answers that one request from the local store; the RPC still succeeds.
 * - After `failures` transient failures in a row the breaker opens: for `cooldownMs` no Redis call
 *   is attempted at all, so the hot path pays no timeout. Then one probe goes to Redis; success
 *   closes the breaker, failure re-opens it for twice as long, up to `maxCooldownMs`
 *   (probeBackoff explains why).
 * - "In fallback" means the breaker is not closed. Entering and leaving it is reported once each
 *   through `events` (a log line, a gauge, a counter), not once per failed call.
 * - In fallback the local buckets get capacity and rate divided by `divisor`, so that N replicas,
 *   each deciding alone, stay near the global limit. A bug (a non-transient error) is not hidden
 *   by the fallback: it propagates.
 * - The connection counts too (`connectionLost`, `connectionReady`): a lost connection puts the
 *   store in fallback at once, with no request needed (the breaker is isolated); "ready" ends that
 *   at once. While no Redis call comes back for `idleProbe.intervalMs`, one probe (a PING) goes
 *   through the breaker like a command: it fails like one, and it is the half-open probe when one
 *   is due. So the state is right with no traffic (idle-probe.ts).
 * - Both stores key buckets alike but for Redis' own prefix, so the keys built by the caller (or by
 *   evaluate(), once) go to whichever store decides (keyed-store.ts).
 */
export interface FallbackEvents {
  onEnter(reason: string): void;
  onExit(): void;
  onFallbackDecision(): void;
  onRedisError(kind: RedisErrorKind): void;
  /** Duration of each Redis call in seconds, success or not. */
  onRedisCall(seconds: number): void;
}

export interface FallbackStoreOptions {
  readonly primary: KeyedBucketStore;
  readonly local: KeyedBucketStore;
  readonly divisor: number;
  readonly failures: number;
  readonly cooldownMs: number;
  readonly maxCooldownMs: number;
  readonly events: FallbackEvents;
  /** A check of Redis under the deadline, sent while idle. None: the state follows requests only. */
  readonly idleProbe?: { readonly run: () => Promise<unknown>; readonly intervalMs: number };
}

export interface FallbackStore extends KeyedBucketStore {
  /**
   * "degraded" while decisions come from the local store. The state only: /readyz answers anyone,
   * so the reason goes to the log line of the transition, never here.
   */
  status(): "ok" | "degraded";
  /** The connection closed or never opened: decide locally until `connectionReady`. */
  readonly connectionLost: (reason: string) => void;
  readonly connectionReady: () => void;
}

/** C/d (at least 1 token, so a small limit is not turned into a deny-all) and r/d. */
export function divideSpec(spec: BucketSpec, divisor: number): BucketSpec {
  if (divisor === 1) return spec;
  return {
    capacity: Math.max(1, spec.capacity / divisor),
    refillTokens: spec.refillTokens,
    refillPeriodUs: spec.refillPeriodUs * divisor,
  };
}

function reasonOf(
  event: { error: Error } | { value: unknown } | { isolated: true },
  isolationReason: string,
): string {
  if ("error" in event)
    return event.error instanceof StoreError
      ? `${event.error.kind}: ${event.error.message}`
      : event.error.message;
  return "isolated" in event ? isolationReason : "unknown";
}

/**
 * The waits before each probe of one outage: `first`, then doubled after every failed probe, up
 * to `max`. Why it starts short: concurrent calls fail together, so a Redis stall of a few tens of
 * milliseconds (a slow command from another client, a fork, a busy host) fails every call in
 * flight at once and opens the breaker. A long fixed cooldown then kept every limit per-process
 * for seconds after a hiccup that was long over (make bench: 2 s of local decisions per 26 ms
 * stall). A failed probe costs one request one deadline, so probing early is cheap; doubling keeps
 * a real outage from costing a deadline every `first` ms.
 */
export function probeBackoff(first: number, max: number): IBackoffFactory<unknown> {
  const wait = (duration: number): IBackoff<unknown> => ({
    duration,
    next: () => wait(Math.min(max, duration * 2)),
  });
  return { next: () => wait(Math.min(first, max)) };
}

/** The breaker, and its isolation while the connection is lost (with the reason for the alert). */
interface Breaker {
  readonly policy: CircuitBreakerPolicy;
  readonly isolate: (reason: string) => void;
  readonly release: () => void;
}

function createBreaker(options: FallbackStoreOptions): Breaker {
  const policy = circuitBreaker(handleWhen(isTransient), {
    halfOpenAfter: probeBackoff(options.cooldownMs, options.maxCooldownMs),
    breaker: new ConsecutiveBreaker(options.failures),
  });
  let inEpisode = false;
  let isolation: { dispose(): void } | undefined;
  let isolationReason = "";
  policy.onBreak((event) => {
    // A failed half-open probe re-opens the breaker, and a lost connection isolates an open one:
    // still the same episode, so no new alert.
    if (inEpisode) return;
    inEpisode = true;
    options.events.onEnter(reasonOf(event, isolationReason));
  });
  policy.onReset(() => {
    inEpisode = false;
    options.events.onExit();
  });
  return {
    policy,
    isolate: (reason) => {
      if (isolation !== undefined) return;
      isolationReason = `connection: ${reason}`;
      isolation = policy.isolate();
    },
    release: () => {
      const held = isolation;
      isolation = undefined;
      held?.dispose();
    },
  };
}

export function createFallbackStore(options: FallbackStoreOptions): FallbackStore {
  const { primary, local, divisor, events } = options;
  const { policy: breaker, isolate, release } = createBreaker(options);
  let redisActive = false;
  let closing = false;

  // Promise chains rather than async functions here and below: every Redis decision passes
  // through, and each async layer costs a promise and a microtask turn.
  function timedPrimary(checks: readonly KeyedCheck[]): Promise<StoreDecision> {
    const start = performance.now();
    const timed = (): void => {
      redisActive = true;
      events.onRedisCall((performance.now() - start) / 1000);
    };
    return primary.evaluateKeyed(checks).then(
      (decision) => {
        timed();
        return decision;
      },
      (raw: unknown) => {
        timed();
        // The adapter classifies its errors; classifying again is a no-op that also covers any
        // error raised before the adapter could (for example by the client library itself).
        const error = classifyRedisError(raw);
        events.onRedisError(error.kind);
        throw error;
      },
    );
  }

  function fromLocal(checks: readonly KeyedCheck[]): Promise<StoreDecision> {
    events.onFallbackDecision();
    return local.evaluateKeyed(
      divisor === 1 ? checks : checks.map((c) => ({ ...c, spec: divideSpec(c.spec, divisor) })),
    );
  }

  function evaluateKeyed(checks: readonly KeyedCheck[]): Promise<StoreDecision> {
    // While one request probes a half-open breaker, cockatiel would make every other request
    // wait for that probe; they go to the local store instead, so none pays the timeout.
    if (breaker.state === CircuitState.HalfOpen) return fromLocal(checks);
    return breaker
      .execute(() => timedPrimary(checks))
      .catch((error: unknown) => {
        if (error instanceof BrokenCircuitError || isTransient(error)) return fromLocal(checks);
        throw error;
      });
  }

  function idleProbe(run: () => Promise<unknown>): Promise<unknown> {
    // A request is probing already; the outcome of its probe will do.
    if (breaker.state === CircuitState.HalfOpen) return Promise.resolve();
    return breaker.execute(() =>
      run().catch((raw: unknown) => {
        const error = classifyRedisError(raw);
        events.onRedisError(error.kind);
        throw error;
      }),
    );
  }

  const probe = options.idleProbe;
  const prober =
    probe === undefined
      ? undefined
      : startIdleProbe({
          intervalMs: probe.intervalMs,
          takeActivity: () => {
            const active = redisActive;
            redisActive = false;
            return active;
          },
          probe: () => idleProbe(probe.run),
        });

  return {
    evaluate: (checks) => evaluateKeyed(keyedChecks(checks, "")),
    evaluateKeyed,
    peek: (bucket) => primary.peek(bucket),
    // An operator's reset must hold whichever store decides next.
    reset: async (bucket) => {
      await local.reset(bucket);
      await primary.reset(bucket);
    },
    close: async () => {
      // Closing the client closes its connection: that is no outage to report.
      closing = true;
      prober?.stop();
      await Promise.all([primary.close(), local.close()]);
    },
    status: () => (breaker.state === CircuitState.Closed ? "ok" : "degraded"),
    connectionLost: (reason) => {
      if (!closing) isolate(reason);
    },
    connectionReady: release,
  };
}
