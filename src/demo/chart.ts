import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Samples kept on screen: 30 s at 4 per second. */
const WINDOW = 120;

export interface Sample {
  /** Seconds since the page started. */
  t: number;
  writeMBps: number;
  readMBps: number;
  writeIops: number;
  readIops: number;
  /** Flushes completed since the previous sample. */
  flushes: number;
}

/** The keys above the chart are text in these colours: each is at least 4.5:1 on white (WCAG AA). */
export const COLORS = { write: '#2563eb', read: '#15803d', flush: '#b45309', mode: '#475569', power: '#dc2626' };

const HEIGHT = 270;

/**
 * The live throughput chart (uPlot): write and read MB/s on the left axis,
 * IOPS on the right, completed flushes as orange ticks along the bottom
 * and each cache-mode change as a labelled line.
 */
export class ThroughputChart {
  private readonly plot: uPlot;
  private readonly host: HTMLElement;
  private readonly data: (number | null)[][] = [[], [], [], [], []];
  private flushes: number[] = [];
  private marks: { t: number; label: string; color: string }[] = [];
  /** The highest write+read MB/s seen, for tests and the page. */
  peakMBps = 0;

  constructor(host: HTMLElement) {
    this.host = host;
    const opts: uPlot.Options = {
      width: Math.max(200, host.clientWidth),
      height: HEIGHT,
      scales: {
        x: { time: false },
        mb: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
        iops: { range: (_u, _min, max) => [0, Math.max(10, max * 1.1)] },
      },
      legend: { show: false },
      cursor: { show: false },
      series: [
        { label: 's' },
        { label: 'write MB/s', scale: 'mb', stroke: COLORS.write, width: 2 },
        { label: 'read MB/s', scale: 'mb', stroke: COLORS.read, width: 2 },
        {
          label: 'write IOPS',
          scale: 'iops',
          stroke: `${COLORS.write}99`,
          dash: [4, 4],
          width: 1,
          points: { show: false },
        },
        {
          label: 'read IOPS',
          scale: 'iops',
          stroke: `${COLORS.read}99`,
          dash: [4, 4],
          width: 1,
          points: { show: false },
        },
      ],
      axes: [
        { label: 'seconds', size: 34, labelSize: 14, incrs: [1, 2, 5, 10, 15, 30, 60] },
        { scale: 'mb', label: 'MB/s', size: 48, labelSize: 14 },
        {
          scale: 'iops',
          side: 1,
          label: 'IOPS',
          size: 54,
          labelSize: 14,
          grid: { show: false },
          values: (_u, ticks) => ticks.map(short),
        },
      ],
      hooks: { draw: [(u) => this.drawMarks(u)] },
    };
    this.plot = new uPlot(opts, this.data as uPlot.AlignedData, host);
    new ResizeObserver(() => this.resize()).observe(host);
  }

  push(s: Sample): void {
    const row = [s.t, s.writeMBps, s.readMBps, s.writeIops, s.readIops];
    row.forEach((v, i) => {
      this.data[i].push(v);
    });
    this.flushes.push(s.flushes);
    if (this.data[0].length > WINDOW) {
      for (const col of this.data) col.shift();
      this.flushes.shift();
    }
    const first = this.data[0][0] ?? 0;
    this.marks = this.marks.filter((m) => m.t >= first);
    this.peakMBps = Math.max(this.peakMBps, s.writeMBps + s.readMBps);
    this.host.dataset.peakMbps = this.peakMBps.toFixed(3);
    this.plot.setData(this.data as uPlot.AlignedData);
  }

  /** A labelled vertical line: a run starts, the mode changes, the power goes. */
  mark(t: number, label: string, color = COLORS.mode): void {
    this.marks.push({ t, label, color });
    this.plot.redraw(false);
  }

  /** A break in the lines (the disk was gone for a while). */
  gap(t: number): void {
    this.push({ t, writeMBps: 0, readMBps: 0, writeIops: 0, readIops: 0, flushes: 0 });
    for (let i = 1; i < this.data.length; i++) this.data[i][this.data[i].length - 1] = null;
    this.plot.setData(this.data as uPlot.AlignedData);
  }

  private drawMarks(u: uPlot): void {
    const ctx = u.ctx;
    const { top, height } = u.bbox;
    const px = uPlot.pxRatio;
    ctx.save();
    ctx.fillStyle = COLORS.flush;
    const xs = this.data[0];
    this.flushes.forEach((n, i) => {
      if (n <= 0) return;
      const x = u.valToPos(xs[i] as number, 'x', true);
      const h = Math.min(16, 5 + Math.log2(n + 1) * 2) * px;
      ctx.fillRect(x - px, top + height - h, 2 * px, h);
    });
    ctx.setLineDash([3 * px, 3 * px]);
    ctx.font = `600 ${11 * px}px system-ui, sans-serif`;
    // Labels that would overlap the previous one go one line lower.
    let prevEnd = Number.NEGATIVE_INFINITY;
    let line = 0;
    for (const m of this.marks) {
      if (xs.length === 0 || m.t < (xs[0] as number)) continue;
      const x = u.valToPos(m.t, 'x', true);
      ctx.strokeStyle = m.color;
      ctx.fillStyle = m.color;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      line = x + 3 * px < prevEnd ? (line + 1) % 4 : 0;
      ctx.fillText(m.label, x + 3 * px, top + (12 + 13 * line) * px);
      prevEnd = Math.max(prevEnd, x + 3 * px + ctx.measureText(m.label).width + 4 * px);
    }
    ctx.restore();
  }

  private resize(): void {
    const width = Math.max(200, this.host.clientWidth);
    if (Math.abs(width - this.plot.width) > 2) this.plot.setSize({ width, height: HEIGHT });
  }
}

function short(v: number): string {
  return v >= 1000 ? `${+(v / 1000).toFixed(1)}k` : `${v}`;
}
