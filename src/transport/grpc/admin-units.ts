import type { Unit } from "../../domain/units.js";

/**
 * floodgate.v1.Unit (proto/floodgate/v1/admin.proto): UNIT_UNSPECIFIED = 0, then SECOND = 1 to
 * YEAR = 7. The one mapping for the Admin server and its client (the operator CLI).
 */
const NUMBERS: Readonly<Record<Unit, number>> = {
  second: 1,
  minute: 2,
  hour: 3,
  day: 4,
  week: 5,
  month: 6,
  year: 7,
};

const BY_NUMBER: ReadonlyMap<number, Unit> = new Map(
  Object.entries(NUMBERS).map(([unit, number]) => [number, unit as Unit]),
);

export function protoUnitNumber(unit: Unit): number {
  return NUMBERS[unit];
}

/** undefined for UNIT_UNSPECIFIED and any number admin.proto does not declare. */
export function unitOfProtoNumber(number: number): Unit | undefined {
  return BY_NUMBER.get(number);
}
