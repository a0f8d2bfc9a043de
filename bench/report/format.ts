/** Latency for people: µs below 10 ms, ms above; "–" for missing. */
export function formatUs(us: number | undefined): string {
  if (us === undefined || !Number.isFinite(us)) return '–';
  const abs = Math.abs(us);
  if (abs < 10) return `${us.toFixed(1)} µs`;
  if (abs < 10_000) return `${Math.round(us)} µs`;
  return `${(us / 1000).toFixed(1)} ms`;
}

export function formatCount(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  return Math.round(n).toLocaleString('en-US');
}

export function formatRatio(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r)) return '–';
  return `${r.toFixed(2)}×`;
}

export function formatPercent(f: number | undefined): string {
  if (f === undefined || !Number.isFinite(f)) return '–';
  return `${Math.round(f * 100)}%`;
}

export function formatMb(kb: number | undefined): string {
  if (kb === undefined || !Number.isFinite(kb) || kb <= 0) return '–';
  return `${(kb / 1024).toFixed(1)} MB`;
}

export function formatMicros(us: number | undefined): string {
  if (us === undefined || !Number.isFinite(us)) return '–';
  return us < 100 ? us.toFixed(1) : String(Math.round(us));
}

/** Seconds as a bucket bound, e.g. 0.00025 → "250 µs". */
export function formatBound(seconds: number): string {
  if (seconds === Number.POSITIVE_INFINITY) return '∞';
  const us = seconds * 1e6;
  if (us < 1000) return `${+us.toPrecision(3)} µs`;
  if (us < 1e6) return `${+(us / 1000).toPrecision(3)} ms`;
  return `${+seconds.toPrecision(3)} s`;
}
