import { protoTimeFromMs } from "./timestamps.js";
import type { CheckLimitInput, CheckLimitOutcome } from "../../limiting/check-limit.js";

/** floodgate.v1 CheckLimit messages ⇄ domain types. */
export interface ProtoCheckLimitRequest {
  user_id: string;
  endpoint: string;
  weight: number;
}

export function fromCheckLimitRequest(req: ProtoCheckLimitRequest): CheckLimitInput {
  return { userId: req.user_id, endpoint: req.endpoint, weight: req.weight };
}

export function toCheckLimitResponse(outcome: CheckLimitOutcome): object {
  return {
    allowed: outcome.allowed ? true : undefined,
    remaining: outcome.remaining === 0 ? undefined : outcome.remaining,
    reset_at: protoTimeFromMs(outcome.resetAt.getTime()),
    retry_after: protoTimeFromMs(outcome.retryAfterMs),
  };
}
