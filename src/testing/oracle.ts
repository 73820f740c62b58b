import { CACHE_POLICY } from '../core/cache-modes';
import type { CacheMode } from '../core/types';
import { patternBytes } from './pattern';

/**
 * The durability oracle: given what a client issued and what was
 * acknowledged before a crash, and the bytes read back after reopening,
 * it says for every block whether it is intact, lost in a way the cache
 * mode allows, or a violation of the contract in DESIGN.md:
 *
 * | writethrough, directsync | every acknowledged write survives |
 * | writeback, none | every write acknowledged before the issue of a flush that then completed, and every acknowledged FUA write |
 * | unsafe | nothing of this session is guaranteed |
 *
 * and in every mode each byte holds its old content or the content of a
 * write issued to it (never bytes that were not written).
 */

/** One logged request. Times are ticks of one logical clock (issue and ack events). */
export type LogEntry =
  | {
      kind: 'write';
      offset: number;
      length: number;
      /** The bytes are patternBytes(length, seed). */
      seed: number;
      fua: boolean;
      mode: CacheMode;
      issuedAt: number;
      ackedAt?: number;
    }
  | { kind: 'discard'; offset: number; length: number; mode: CacheMode; issuedAt: number; ackedAt?: number }
  | { kind: 'flush'; mode: CacheMode; issuedAt: number; ackedAt?: number }
  | { kind: 'mode'; mode: CacheMode; issuedAt: number; ackedAt?: number };

/**
 * Records the requests made to a disk as they are issued and acknowledged.
 * Entries are plain JSON (bytes are regenerated from seeds), so a log can
 * be stored, sent across a reload, or printed for a replay.
 */
export class RequestLog {
  readonly entries: LogEntry[] = [];
  /** The disk's mode when the log began. */
  readonly initialMode: CacheMode;
  private clock = 0;
  private mode: CacheMode;

  constructor(mode: CacheMode) {
    this.initialMode = mode;
    this.mode = mode;
  }

  /** The mode in effect for the next request (requests take effect in issue order). */
  get currentMode(): CacheMode {
    return this.mode;
  }

  write(offset: number, length: number, seed: number, fua = false): LogEntry {
    return this.push({ kind: 'write', offset, length, seed, fua, mode: this.mode, issuedAt: 0 });
  }
  discard(offset: number, length: number): LogEntry {
    return this.push({ kind: 'discard', offset, length, mode: this.mode, issuedAt: 0 });
  }
  flush(): LogEntry {
    return this.push({ kind: 'flush', mode: this.mode, issuedAt: 0 });
  }
  setMode(mode: CacheMode): LogEntry {
    const e = this.push({ kind: 'mode', mode, issuedAt: 0 });
    this.mode = mode;
    return e;
  }
  /** Marks an entry acknowledged (its promise resolved). */
  ack(entry: LogEntry): void {
    entry.ackedAt = ++this.clock;
  }

  private push(e: LogEntry): LogEntry {
    e.issuedAt = ++this.clock;
    this.entries.push(e);
    return e;
  }
}

export type BlockVerdict = 'intact' | 'lost' | 'violation' | 'untouched';

export interface Violation {
  /** Byte range of the disk (relative to the checked region start). */
  offset: number;
  length: number;
  reason: string;
}

export interface OracleReport {
  /** Per reporting block of `blockSize` bytes. */
  blocks: BlockVerdict[];
  blockSize: number;
  intact: number;
  lost: number;
  violations: number;
  untouched: number;
  details: Violation[];
}

export interface CheckInput {
  entries: readonly LogEntry[];
  /** The disk's mode when the log began (RequestLog.initialMode). */
  initialMode: CacheMode;
  /** Content before the session (defaults to zeros). */
  base?: Uint8Array;
  /** What was read back after reopening, from byte 0 of the disk. */
  actual: Uint8Array;
  /** Reporting granularity. Default 4096. */
  blockSize?: number;
}

type Candidate = { index: number; bytes: (from: number, to: number) => Uint8Array | number };

/**
 * The modes each request may have run in. Requests take effect in issue
 * order, but their answers may come out of it (a group commit holds a
 * write's answer while later requests run; the batched transport answers
 * a batch at once): so a switch still unanswered when the plug was pulled
 * may have taken effect or not (one that fails, e.g. because its flush
 * did, leaves the mode as it was), even if later requests were answered.
 * An acknowledged switch took effect.
 */
export function possibleModes(entries: readonly LogEntry[], initialMode: CacheMode): CacheMode[][] {
  let modes: CacheMode[] = [initialMode];
  return entries.map((e) => {
    if (e.kind === 'mode') {
      if (e.ackedAt !== undefined) modes = [e.mode];
      else if (!modes.includes(e.mode)) modes = [...modes, e.mode];
    }
    return modes;
  });
}

/**
 * Is the write guaranteed to survive a power loss, by its mode's row of
 * the table — in every mode it may have run in?
 */
export function isGuaranteed(entries: readonly LogEntry[], modes: readonly CacheMode[][], i: number): boolean {
  const w = entries[i];
  if ((w.kind !== 'write' && w.kind !== 'discard') || w.ackedAt === undefined) return false;
  const acked = w.ackedAt;
  // A flush issued after the ack, completed, in a mode whose flush syncs (whichever it met).
  const flushedLater = () =>
    entries.some(
      (f, j) =>
        j > i &&
        f.kind === 'flush' &&
        f.ackedAt !== undefined &&
        f.issuedAt > acked &&
        modes[j].every((m) => CACHE_POLICY[m].syncOnFlush),
    );
  return modes[i].every((mode) => {
    const p = CACHE_POLICY[mode];
    if (!p.syncOnFlush) return false; // unsafe
    if (p.syncEachWrite) return true; // writethrough, directsync
    if (w.kind === 'write' && w.fua) return true;
    return flushedLater();
  });
}

/** Checks what survived against the contract. */
export function checkDurability(input: CheckInput): OracleReport {
  const { entries, actual } = input;
  const size = actual.length;
  const blockSize = input.blockSize ?? 4096;
  const base = input.base ?? new Uint8Array(size);
  const writes = entries
    .map((e, index) => ({ e, index }))
    .filter((x) => (x.e.kind === 'write' || x.e.kind === 'discard') && x.e.length > 0 && x.e.offset < size);
  const modes = possibleModes(entries, input.initialMode);
  const guaranteed = new Set(writes.filter((x) => isGuaranteed(entries, modes, x.index)).map((x) => x.index));
  // Units: maximal ranges covered by the same set of writes. Within a unit,
  // a consistent disk holds one candidate's bytes.
  const cuts = new Set<number>([0, size]);
  for (const { e } of writes) {
    if (e.kind === 'flush' || e.kind === 'mode') continue;
    cuts.add(e.offset);
    cuts.add(Math.min(size, e.offset + e.length));
  }
  for (let b = blockSize; b < size; b += blockSize) cuts.add(b);
  const points = [...cuts].sort((a, b) => a - b);
  const nBlocks = Math.ceil(size / blockSize);
  const rank: Record<BlockVerdict, number> = { untouched: 0, intact: 1, lost: 2, violation: 3 };
  const blocks: BlockVerdict[] = new Array(nBlocks).fill('untouched');
  const details: Violation[] = [];
  const data = new Map<number, Uint8Array>();
  const bytesOf = (index: number): Uint8Array => {
    let d = data.get(index);
    if (!d) {
      const e = entries[index];
      d = e.kind === 'write' ? patternBytes(e.length, e.seed) : new Uint8Array(e.kind === 'discard' ? e.length : 0);
      data.set(index, d);
    }
    return d;
  };

  for (let u = 0; u + 1 < points.length; u++) {
    const from = points[u];
    const to = points[u + 1];
    if (to <= from) continue;
    const covering = writes.filter(
      ({ e }) => e.kind !== 'flush' && e.kind !== 'mode' && e.offset < to && e.offset + e.length > from,
    );
    const got = actual.subarray(from, to);
    const matches = (c: Candidate) => equalBytes(got, c.bytes(from, to));
    const baseCand: Candidate = { index: -1, bytes: (a, b) => base.subarray(a, b) };
    const cands: Candidate[] = [
      baseCand,
      ...covering.map(({ e, index }) => ({
        index,
        bytes: (a: number, b: number) =>
          bytesOf(index).subarray(a - (e as { offset: number }).offset, b - (e as { offset: number }).offset),
      })),
    ];
    // cands[k] for k ≥ 1 is in issue order. g: the newest guaranteed; latestAcked: the newest acknowledged.
    let g = 0;
    let latestAcked = 0;
    cands.forEach((c, k) => {
      if (k > 0 && guaranteed.has(c.index)) g = k;
      if (k > 0 && entries[c.index].ackedAt !== undefined) latestAcked = k;
    });
    let verdict: BlockVerdict;
    if (covering.length === 0) {
      verdict = matches(baseCand) ? 'untouched' : 'violation';
      if (verdict === 'violation')
        details.push({ offset: from, length: to - from, reason: 'bytes changed that no write touched' });
    } else if (cands.slice(Math.max(latestAcked, g)).some(matches)) {
      verdict = 'intact';
    } else if (cands.slice(g, latestAcked).some(matches)) {
      verdict = 'lost';
    } else {
      verdict = 'violation';
      const older = cands.slice(0, g).some(matches);
      details.push({
        offset: from,
        length: to - from,
        reason: older
          ? `a guaranteed write (request #${cands[g].index}, ${describeEntry(entries[cands[g].index], modes[cands[g].index])}) is missing: older content is there`
          : 'holds bytes that were never written there',
      });
    }
    const first = Math.floor(from / blockSize);
    const last = Math.floor((to - 1) / blockSize);
    for (let b = first; b <= last; b++) if (rank[verdict] > rank[blocks[b]]) blocks[b] = verdict;
  }
  const count = (v: BlockVerdict) => blocks.filter((b) => b === v).length;
  return {
    blocks,
    blockSize,
    intact: count('intact'),
    lost: count('lost'),
    violations: count('violation'),
    untouched: count('untouched'),
    details,
  };
}

function describeEntry(e: LogEntry, modes: readonly CacheMode[]): string {
  const mode = modes.join(' or ');
  if (e.kind === 'write') return `write ${e.length} B at ${e.offset}${e.fua ? ' FUA' : ''} in ${mode}`;
  if (e.kind === 'discard') return `discard ${e.length} B at ${e.offset} in ${mode}`;
  return e.kind;
}

function equalBytes(a: Uint8Array, b: Uint8Array | number): boolean {
  if (typeof b === 'number') return false;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
