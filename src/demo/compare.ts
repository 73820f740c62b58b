import { CACHE_MODES, type CacheMode, type CrashModel } from '../index';
import { formatCount } from './format';

interface Row {
  bytes: number;
  ops: number;
  seconds: number;
  workload: string;
  loss?: { lost: number; written: number; violations: number; model: CrashModel };
}

/**
 * The comparison table: one row per cache mode the user has tried, with the
 * throughput of its latest run and what its latest power loss cost.
 */
export class Comparison {
  private readonly body: HTMLTableSectionElement;
  private readonly rows = new Map<CacheMode, Row>();

  constructor(body: HTMLTableSectionElement) {
    this.body = body;
    this.render();
  }

  /** A run (or a switch to `mode` during one) begins: its throughput starts afresh. */
  begin(mode: CacheMode, workload: string): void {
    const row = this.row(mode);
    row.bytes = 0;
    row.ops = 0;
    row.seconds = 0;
    row.workload = workload;
  }

  add(mode: CacheMode, bytes: number, ops: number, seconds: number): void {
    const row = this.row(mode);
    row.bytes += bytes;
    row.ops += ops;
    row.seconds += seconds;
  }

  /** The verdict after the latest power loss, which happened in `mode`. */
  loss(mode: CacheMode, lost: number, written: number, violations: number, model: CrashModel): void {
    this.row(mode).loss = { lost, written, violations, model };
  }

  render(): void {
    const trs = CACHE_MODES.filter((m) => this.rows.has(m)).map((m) => {
      const r = this.rows.get(m) as Row;
      const tr = document.createElement('tr');
      tr.dataset.mode = m;
      const l = r.loss;
      const loss = l
        ? `${formatCount(l.lost)} (${l.written ? Math.round((100 * l.lost) / l.written) : 0}%)${l.violations ? ` ✘ ${l.violations} violations` : ''}`
        : '–';
      const cells = [
        m,
        r.seconds > 0 ? (r.bytes / r.seconds / 1e6).toFixed(1) : '–',
        r.seconds > 0 ? formatCount(r.ops / r.seconds) : '–',
        loss,
      ];
      cells.forEach((text, i) => {
        const td = document.createElement(i === 0 ? 'th' : 'td');
        if (i === 0) td.setAttribute('scope', 'row');
        td.textContent = text;
        if (i === 3 && l) {
          td.title = `${formatCount(l.lost)} of ${formatCount(l.written)} written blocks lost, ${l.violations} violations (${l.model === 'power' ? 'power cut' : 'process crash'})`;
          if (l.violations > 0) td.className = 'bad';
        }
        tr.append(td);
      });
      tr.title = r.workload;
      return tr;
    });
    if (trs.length === 0) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = 4;
      td.className = 'hint';
      td.textContent = 'Run a workload: each cache mode you try gets a row.';
      tr.append(td);
      trs.push(tr);
    }
    this.body.replaceChildren(...trs);
  }

  private row(mode: CacheMode): Row {
    let r = this.rows.get(mode);
    if (!r) {
      r = { bytes: 0, ops: 0, seconds: 0, workload: '' };
      this.rows.set(mode, r);
    }
    return r;
  }
}
