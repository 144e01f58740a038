/** The bench's pure parts: taking the median round, and reading BENCH_ROUNDS. */
import { describe, expect, it } from "vitest";
import type { Row } from "../../bench/measure.js";
import { medianRound } from "../../bench/measure.js";
import { readOptions } from "../../bench/options.js";
import type { BenchServer } from "../../bench/servers.js";

const server = { id: "redis", label: "(c)" } as BenchServer;

function round(rps: number, p99: number): Row {
  return {
    server,
    rps,
    p50: p99 / 2,
    p99,
    p999: p99 * 2,
    ...{ errors: 0, dropped: 0, measured: rps },
    ...{ redisCallsPerRequest: 1, evalshaPerRequest: 1, evalshaPerRedisCall: 1 },
    ...{ serverCpu: 100, redisCpu: 10, sources: { redis: rps }, lagP99: undefined },
    roundsRps: [rps],
  };
}

describe("medianRound", () => {
  it("keeps the whole median round by req/s, and lists every round in order", () => {
    const median = medianRound([round(30, 9), round(10, 1), round(20, 5)], "rps");
    expect(median).toMatchObject({ rps: 20, p99: 5, p999: 10, roundsRps: [30, 10, 20] });
  });

  it("takes the median by p99 at a fixed rate", () => {
    const median = medianRound([round(10, 7), round(11, 2), round(12, 4)], "p99");
    expect(median).toMatchObject({ rps: 12, p99: 4 });
  });

  it("takes the lower of the two middle rounds when there is an even number", () => {
    expect(medianRound([round(40, 1), round(10, 1), round(30, 1), round(20, 1)], "rps").rps).toBe(20);
  });

  it("refuses no rounds at all", () => {
    expect(() => medianRound([], "rps")).toThrow(/no rounds/);
  });
});

describe("BENCH_ROUNDS", () => {
  it("defaults to 3 and accepts 1 to 20", () => {
    expect(readOptions({}).rounds).toBe(3);
    expect(readOptions({ BENCH_ROUNDS: "1" }).rounds).toBe(1);
    expect(() => readOptions({ BENCH_ROUNDS: "0" })).toThrow(/BENCH_ROUNDS must be a number from 1 to 20/);
  });
});
