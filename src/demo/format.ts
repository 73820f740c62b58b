/** Small formatting helpers for the demo page. */

const KIB = 1024;
const MIB = 1024 * 1024;

/** 512 → "512 B", 4096 → "4 KiB", 1048576 → "1 MiB". */
export function formatBytes(n: number): string {
  if (n >= MIB) return `${trim(n / MIB)} MiB`;
  if (n >= KIB) return `${trim(n / KIB)} KiB`;
  return `${n} B`;
}

/** Megabytes (10^6) per second, as disk benchmarks quote them. */
export function formatRate(bytesPerSecond: number): string {
  const mb = bytesPerSecond / 1e6;
  return `${mb >= 100 ? mb.toFixed(0) : mb >= 10 ? mb.toFixed(1) : mb.toFixed(2)} MB/s`;
}

/** 12345 → "12,345". */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function trim(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(1);
}
