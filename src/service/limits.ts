import { invalidArgument } from "../domain/errors.js";
import type { LimitRequest } from "./types.js";

/**
 * Documented input bounds (README, "Input limits"). They keep a hostile or broken caller from
 * making us allocate or hash without bound. A violation is INVALID_ARGUMENT naming the field.
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

/** U+FFFD is what a decoder leaves for invalid UTF-8; proto3 strings must be valid UTF-8. */
function badString(value: string, max: number): boolean {
  return value.length > max || value.includes("\uFFFD");
}

function validateDescriptor(request: LimitRequest, index: number): void {
  const descriptor = request.descriptors[index]!;
  const at = `descriptors[${index}]`;
  if (descriptor.entries.length > INPUT_LIMITS.maxEntries) throw invalidArgument(`${at}.entries`);
  descriptor.entries.forEach((entry, i) => {
    if (entry.key.length === 0 || badString(entry.key, INPUT_LIMITS.maxKeyLength)) {
      throw invalidArgument(`${at}.entries[${i}].key`);
    }
    if (badString(entry.value, INPUT_LIMITS.maxValueLength))
      throw invalidArgument(`${at}.entries[${i}].value`);
  });
  const hits = descriptor.hitsAddend;
  if (hits !== undefined && !(Number.isInteger(hits) && hits >= 0 && hits <= INPUT_LIMITS.maxCost)) {
    throw invalidArgument(`${at}.hits_addend`);
  }
  const override = descriptor.limitOverride;
  if (
    override !== undefined &&
    !(Number.isInteger(override.requestsPerUnit) && override.requestsPerUnit >= 0)
  ) {
    throw invalidArgument(`${at}.limit.requests_per_unit`);
  }
}

export function validateLimitRequest(request: LimitRequest): void {
  if (request.domain.length === 0 || badString(request.domain, INPUT_LIMITS.maxDomainLength)) {
    throw invalidArgument("domain");
  }
  if (request.descriptors.length > INPUT_LIMITS.maxDescriptors) throw invalidArgument("descriptors");
  const hits = request.hitsAddend;
  if (!(Number.isInteger(hits) && hits >= 0 && hits <= INPUT_LIMITS.maxCost))
    throw invalidArgument("hits_addend");
  for (let i = 0; i < request.descriptors.length; i++) validateDescriptor(request, i);
}
