/** Per-request latencies of a run, summarised as percentiles. */
import type { LatencySummary } from './config';
import { Rng } from './content';

const LAT_CAP = 1 << 18;

/** Per-request latencies: all of them up to LAT_CAP, then a uniform reservoir sample. */
export class Latencies {
  private readonly samples = new Float64Array(LAT_CAP);
  private readonly sorted = new Float64Array(LAT_CAP);
  private readonly rng = new Rng(12345);
  private n = 0;
  private sum = 0;
  private max = 0;

  reset(): void {
    this.n = 0;
    this.sum = 0;
    this.max = 0;
  }

  add(ms: number): void {
    const us = ms * 1000;
    this.sum += us;
    if (us > this.max) this.max = us;
    if (this.n < LAT_CAP) this.samples[this.n] = us;
    else {
      const j = this.rng.below(this.n + 1);
      if (j < LAT_CAP) this.samples[j] = us;
    }
    this.n++;
  }

  summary(): LatencySummary {
    const m = Math.min(this.n, LAT_CAP);
    if (m === 0) return { p50: 0, p99: 0, mean: 0, max: 0 };
    const s = this.sorted.subarray(0, m);
    s.set(this.samples.subarray(0, m));
    s.sort();
    const at = (q: number) => s[Math.min(m - 1, Math.floor(q * m))];
    return { p50: round1(at(0.5)), p99: round1(at(0.99)), mean: round1(this.sum / this.n), max: round1(this.max) };
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;
