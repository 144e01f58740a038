import { describe, expect, it } from "vitest";
import { UNITS } from "../../src/domain/units.js";
import { packageDefinition } from "../../src/transport/grpc/proto.js";
import { protoUnitNumber, unitOfProtoNumber } from "../../src/transport/grpc/admin-units.js";

/** floodgate.v1.Unit as admin.proto declares it: one mapping for the server and the CLI. */
function declared(): Map<string, number> {
  const unit = packageDefinition()["floodgate.v1.Unit"] as unknown as {
    type: { value: { name: string; number: number }[] };
  };
  return new Map(unit.type.value.map((v) => [v.name, v.number]));
}

describe("floodgate.v1.Unit numbers", () => {
  it("match admin.proto for every unit, both ways", () => {
    const numbers = declared();
    for (const unit of UNITS) {
      expect(protoUnitNumber(unit)).toBe(numbers.get(unit.toUpperCase()));
      expect(unitOfProtoNumber(protoUnitNumber(unit))).toBe(unit);
    }
    expect(numbers.size).toBe(UNITS.length + 1);
  });

  it("have no unit for UNIT_UNSPECIFIED or an unknown number", () => {
    expect(unitOfProtoNumber(0)).toBeUndefined();
    expect(unitOfProtoNumber(8)).toBeUndefined();
  });
});
