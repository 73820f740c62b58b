import { type BlockState, STATES, VIOLATION } from './block-states';

export const COLS = 64;
export const ROWS = 32;

/** One colour and one plain label per state, in legend order. */
export const STATE_STYLE: Record<BlockState, { color: string; label: string }> = {
  never: { color: '#e2e8f0', label: 'never written' },
  durable: { color: '#0f766e', label: 'durable (synced)' },
  store: { color: '#eab308', label: 'in storage, not synced' },
  dirty: { color: '#8b5cf6', label: 'dirty in worker memory' },
  survived: { color: '#4ade80', label: 'survived power loss' },
  lost: { color: '#f97316', label: 'lost (the mode allows it)' },
  violation: { color: '#dc2626', label: 'violation (never allowed)' },
};

/** Inside a cell, bands stack from the top in this order (a violation fills the whole cell). */
const STACK: readonly number[] = [5, 3, 2, 4, 1, 0]; // lost, dirty, store, survived, durable, never

/**
 * The block map: a COLS×ROWS canvas, one cell per equal region of the
 * disk. A cell is split in bands as tall as the share of its 4 KiB blocks
 * in each state, so a mostly-survived region looks mostly green; any
 * violation paints the whole cell red.
 */
export class BlockMap {
  private readonly canvas: HTMLCanvasElement;
  private cells: Uint16Array = new Uint16Array(COLS * ROWS * STATES.length);
  private regionBytes = 0;

  constructor(canvas: HTMLCanvasElement) {
    this.canvas = canvas;
    new ResizeObserver(() => this.draw()).observe(canvas.parentElement ?? canvas);
  }

  /** Shows `cells` (per cell, units per state: BlockTracker.cells) of a disk of `diskSize` bytes; `counts` are units per state. */
  show(cells: Uint16Array, diskSize: number, counts: number[]): void {
    this.cells = cells;
    this.regionBytes = diskSize / (COLS * ROWS);
    const parts = STATES.map((s, i) => (counts[i] > 0 ? `${counts[i]} ${STATE_STYLE[s].label}` : '')).filter(Boolean);
    this.canvas.setAttribute(
      'aria-label',
      `Block map, ${COLS * ROWS} cells of ${Math.round(this.regionBytes / 1024)} KiB. 4 KiB blocks: ${parts.join('; ')}.`,
    );
    this.draw();
  }

  private draw(): void {
    const c = this.canvas;
    const width = c.parentElement?.clientWidth ?? 512;
    const cell = Math.max(3, Math.min(12, Math.floor(width / COLS)));
    const dpr = window.devicePixelRatio || 1;
    const w = cell * COLS;
    const h = cell * ROWS;
    if (c.width !== w * dpr || c.height !== h * dpr) {
      c.width = w * dpr;
      c.height = h * dpr;
      c.style.width = `${w}px`;
      c.style.height = `${h}px`;
    }
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, w, h);
    const gap = cell >= 6 ? 1 : 0;
    const side = cell - gap;
    const n = STATES.length;
    for (let i = 0; i < COLS * ROWS; i++) {
      const x = (i % COLS) * cell;
      const y = Math.floor(i / COLS) * cell;
      const counts = this.cells.subarray(i * n, (i + 1) * n);
      if (counts[VIOLATION] > 0) {
        ctx.fillStyle = STATE_STYLE.violation.color;
        ctx.fillRect(x, y, side, side);
        continue;
      }
      let total = 0;
      for (const k of STACK) total += counts[k];
      if (total === 0) {
        ctx.fillStyle = STATE_STYLE.never.color;
        ctx.fillRect(x, y, side, side);
        continue;
      }
      let done = 0;
      for (const k of STACK) {
        if (counts[k] === 0) continue;
        const top = Math.round((done / total) * side);
        done += counts[k];
        const bottom = Math.round((done / total) * side);
        if (bottom <= top) continue;
        ctx.fillStyle = STATE_STYLE[STATES[k]].color;
        ctx.fillRect(x, y + top, side, bottom - top);
      }
    }
  }
}

/** Fills the legend list: a swatch, the label and the number of 4 KiB blocks in each state. */
export function renderLegend(list: HTMLElement, counts: number[]): void {
  if (list.childElementCount !== STATES.length) {
    list.replaceChildren(
      ...STATES.map((s) => {
        const li = document.createElement('li');
        li.dataset.state = s;
        const sw = document.createElement('span');
        sw.className = 'swatch';
        sw.style.background = STATE_STYLE[s].color;
        const label = document.createElement('span');
        label.textContent = STATE_STYLE[s].label;
        const n = document.createElement('span');
        n.className = 'n';
        li.append(sw, label, n);
        return li;
      }),
    );
  }
  STATES.forEach((_s, i) => {
    const li = list.children[i] as HTMLElement;
    (li.querySelector('.n') as HTMLElement).textContent = counts[i] > 0 ? counts[i].toLocaleString('en-US') : '';
    li.classList.toggle('empty', counts[i] === 0);
    li.dataset.count = String(counts[i]);
  });
}
