/**
 * JSON has no Infinity: a missing client's time and a histogram's +Inf bound are written as
 * Prometheus spells it ("+Inf", as bench-command.ts does) and read back as numbers.
 */
export function stringifyWithInfinity(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_key, v: unknown) => (v === Number.POSITIVE_INFINITY ? '+Inf' : v), indent);
}

export function parseWithInfinity<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) => (v === '+Inf' ? Number.POSITIVE_INFINITY : v)) as T;
}
