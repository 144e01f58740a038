/** The machine a run happened on, for docs/benchmarks.md. */
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg, release, totalmem } from "node:os";
import type { Redis } from "ioredis";

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly redis: string;
  readonly kernel: string;
  /** 1, 5 and 15 minute load averages when the run started: other work on the machine skews it. */
  readonly loadAtStart: readonly number[];
}

function cpuModel(): string {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((l) => l.startsWith("model name"));
    return line?.split(":")[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

export async function describeMachine(redis: Redis): Promise<Machine> {
  const info = await redis.info("server");
  return {
    cpu: cpuModel(),
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown",
    kernel: `Linux ${release()}`,
    loadAtStart: loadavg().map((n) => Math.round(n * 100) / 100),
  };
}
