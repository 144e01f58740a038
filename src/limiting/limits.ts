import { invalidArgument } from "../domain/errors.js";
import type { DescriptorEntry } from "../domain/rules.js";
import type { LimitRequest } from "./types.js";

/**
 * Documented input bounds (README, "Input limits"). They keep a hostile or broken caller from
 * making us allocate or hash without bound. A violation is INVALID_ARGUMENT naming the field.
 *
 * Except for the values of a ShouldRateLimit descriptor: those come from the client of the
 * service Envoy guards (a header, the path), and Envoy lets a request through when Floodgate
 * answers an error (failure_mode_deny: false, its default). A value refused for its length or
 * its bytes would be a way out of every limit, so a value is data, however long and whatever its
 * bytes: it is counted in its own bucket (long and non-ASCII values are digested in the key,
 * store/keys.ts), bounded only by the message cap (transport/grpc/server.ts).
 */
export const INPUT_LIMITS = Object.freeze({
  maxDomainLength: 256,
  maxDescriptors: 64,
  maxEntries: 16,
  maxKeyLength: 256,
  maxValueLength: 1024,
  /** Envoy caps its own `hits_addend.number` at 1e9; so do we, for every cost and weight. */
  maxCost: 1_000_000_000,
});

/**
 * The one rule for the characters of every string taken in, on the public and the admin APIs.
 * Each kind refuses U+FFFD (what a decoder leaves for invalid UTF-8; proto3 strings must be
 * valid UTF-8) and lone surrogates (`\ud800` is valid JSON, and has no UTF-8 form), and the
 * control characters (Unicode Cc) that kind of string cannot legitimately hold.
 */
const REFUSED = {
  /** Domains and entry keys: names from configuration, so no control character at all. */
  name: /[\p{Cs}\uFFFD\p{Cc}]/u,
  /**
   * CheckLimit's user_id and endpoint: any control character (they only ever become escaped or
   * digested bucket keys). The application that calls is the one to decide what a refusal means.
   */
  checkValue: /[\p{Cs}\uFFFD]/u,
  /** Entry values an operator names (they go to Postgres, logs and terminals): a tab at most. */
  value: /[\p{Cs}\uFFFD]|(?!\t)\p{Cc}/u,
  /** Free text (an operator's reason): tab and newline too. */
  text: /[\p{Cs}\uFFFD]|(?![\t\n])\p{Cc}/u,
} as const;

export type StringKind = keyof typeof REFUSED;

/** Longer than `max` UTF-16 code units, or holding a character its kind refuses. */
export function badString(value: string, max: number, kind: StringKind): boolean {
  return value.length > max || REFUSED[kind].test(value);
}

/**
 * The one rule for a descriptor's entries, on the hot path and for the descriptors an operator
 * names: at most maxEntries, each key a non-empty name. A value is checked only when `values`
 * says how: a ShouldRateLimit value is data (see above). Errors name `<at>.entries[i].key|value`.
 */
export function validateEntries(
  entries: readonly DescriptorEntry[],
  rule: { readonly at: string; readonly values?: StringKind },
): void {
  const { at, values } = rule;
  if (entries.length > INPUT_LIMITS.maxEntries) throw invalidArgument(`${at}.entries`);
  entries.forEach((entry, i) => {
    if (entry.key.length === 0 || badString(entry.key, INPUT_LIMITS.maxKeyLength, "name")) {
      throw invalidArgument(`${at}.entries[${i}].key`);
    }
    if (values !== undefined && badString(entry.value, INPUT_LIMITS.maxValueLength, values)) {
      throw invalidArgument(`${at}.entries[${i}].value`);
    }
  });
}

function validateDescriptor(request: LimitRequest, index: number): void {
  const descriptor = request.descriptors[index]!;
  const at = `descriptors[${index}]`;
  // Keys come from configuration (Envoy's descriptor_key), values from clients: see above.
  validateEntries(descriptor.entries, { at });
  const hits = descriptor.hitsAddend;
  if (hits !== undefined && !(Number.isInteger(hits) && hits >= 0 && hits <= INPUT_LIMITS.maxCost)) {
    throw invalidArgument(`${at}.hits_addend`);
  }
  const limit = descriptor.descriptorLimit;
  if (limit !== undefined && !(Number.isInteger(limit.requestsPerUnit) && limit.requestsPerUnit >= 0)) {
    throw invalidArgument(`${at}.limit.requests_per_unit`);
  }
}

export function validateLimitRequest(request: LimitRequest): void {
  if (request.domain.length === 0 || badString(request.domain, INPUT_LIMITS.maxDomainLength, "name")) {
    throw invalidArgument("domain");
  }
  if (request.descriptors.length > INPUT_LIMITS.maxDescriptors) throw invalidArgument("descriptors");
  const hits = request.hitsAddend;
  if (!(Number.isInteger(hits) && hits >= 0 && hits <= INPUT_LIMITS.maxCost))
    throw invalidArgument("hits_addend");
  for (let i = 0; i < request.descriptors.length; i++) validateDescriptor(request, i);
}
