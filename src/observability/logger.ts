import type { DestinationStream, Logger, LoggerOptions } from "pino";
import { pino } from "pino";

export type { Logger };

/**
 * Structured JSON logs. Anything that could carry a secret is redacted by path as a second line of
 * defence; the first is never putting a secret into a log call at all.
 */
const REDACT = [
  "redisUrl",
  "*.redisUrl",
  "password",
  "*.password",
  "databaseUrl",
  "*.databaseUrl",
  "authorization",
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: "floodgate", pid: process.pid },
    redact: { paths: REDACT, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    // "level":"info" rather than 30: log pipelines and people read labels.
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
