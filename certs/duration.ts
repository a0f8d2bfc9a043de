/** Certificate lifetimes as people write them: "90s", "30m", "24h", "7d", "1.5h". */

const DURATION = /^(\d+(?:\.\d+)?)(s|m|h|d)$/;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds, or undefined when `text` is not a number followed by s, m, h or d. */
export function parseDurationMs(text: string): number | undefined {
  const m = DURATION.exec(text);
  return m ? Math.round(Number(m[1]) * UNIT_MS[m[2]]) : undefined;
}
