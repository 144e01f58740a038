/** Time units of the reference server's YAML, with their lengths in seconds (README, "Rules"). */
export const UNIT_SECONDS = {
  second: 1,
  minute: 60,
  hour: 3600,
  day: 86_400,
  week: 604_800,
  month: 2_592_000,
  year: 31_536_000,
} as const;

export type Unit = keyof typeof UNIT_SECONDS;

export const UNITS: readonly Unit[] = Object.keys(UNIT_SECONDS) as Unit[];

/** Accepts any case, as the reference server does ("MINUTE", "minute", "Minute"). */
export function parseUnit(raw: string): Unit | undefined {
  const lower = raw.toLowerCase();
  return lower in UNIT_SECONDS ? (lower as Unit) : undefined;
}
