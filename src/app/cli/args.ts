import { parseArgs } from "node:util";
import type { ParseArgsConfig } from "node:util";

/** Small parsing helpers shared by the CLI commands; every error names the flag. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export type Options = NonNullable<ParseArgsConfig["options"]>;
export type Values = Record<string, string | boolean | string[] | undefined>;

export function parse(args: string[], options: Options): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/**
 * For commands that take only flags: a stray word (`admin audit verify`) is a usage error, not
 * silently ignored; one that names a flag gets a hint.
 */
export function parseFlags(args: string[], options: Options): Values {
  const { values, positionals } = parse(args, options);
  const [stray] = positionals;
  if (stray === undefined) return values;
  const hint = Object.hasOwn(options, stray) ? ` (did you mean --${stray}?)` : "";
  throw new UsageError(`unexpected argument ${JSON.stringify(stray)}${hint}`);
}

export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

export function required(values: Values, name: string): string {
  const v = str(values, name);
  if (v === undefined || v === "") throw new UsageError(`--${name} is required`);
  return v;
}

export function int(values: Values, name: string): number | undefined {
  const v = str(values, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number`);
  return Number(v);
}

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "90s", "15m", "1h", "7d" → seconds. */
export function seconds(values: Values, name: string): number | undefined {
  const v = str(values, name);
  if (v === undefined) return undefined;
  const match = /^(\d+)([smhd])$/.exec(v);
  if (match === null) throw new UsageError(`--${name} must look like 90s, 15m, 1h or 7d`);
  return Number(match[1]) * DURATION_UNITS[match[2]!]!;
}

export function date(values: Values, name: string): Date | undefined {
  const v = str(values, name);
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--${name} must be an ISO 8601 time`);
  return d;
}

/** Repeated `--entry key=value` flags, in order. */
export function entries(values: Values): { key: string; value: string }[] {
  const raw = values["entry"];
  const list = Array.isArray(raw) ? raw : typeof raw === "string" ? [raw] : [];
  return list.map((item) => {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`--entry must be key=value, got ${JSON.stringify(item)}`);
    return { key: item.slice(0, eq), value: item.slice(eq + 1) };
  });
}
