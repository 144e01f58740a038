import type { CheckLimitInput, CheckLimitOutcome } from "../../service/check-limit.js";

/** floodgate.v1 CheckLimit messages ⇄ domain types. */
export interface ProtoCheckLimitRequest {
  user_id: string;
  endpoint: string;
  weight: number;
}

export function fromCheckLimitRequest(req: ProtoCheckLimitRequest): CheckLimitInput {
  return { userId: req.user_id, endpoint: req.endpoint, weight: req.weight };
}

function splitMs(ms: number): { seconds: number | undefined; nanos: number | undefined } {
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000;
  return { seconds: seconds === 0 ? undefined : seconds, nanos: nanos === 0 ? undefined : nanos };
}

export function toCheckLimitResponse(outcome: CheckLimitOutcome): object {
  return {
    allowed: outcome.allowed ? true : undefined,
    remaining: outcome.remaining === 0 ? undefined : outcome.remaining,
    reset_at: splitMs(outcome.resetAt.getTime()),
    retry_after: splitMs(outcome.retryAfterMs),
  };
}
