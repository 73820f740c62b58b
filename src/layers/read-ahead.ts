import { DiskError } from '../core/errors';
import type { Extent } from '../core/store';
import type { BaseStream } from '../stores/base-image';
import type { ClusterMapStore } from './cluster-map';

/** Clusters are installed (and waiting requests answered) in batches of at most this many bytes. */
const BATCH = 1024 * 1024;
/**
 * Installs still on their way (a store that commits asynchronously, as
 * IndexedDB does, holds their bytes meanwhile) past which the stream pulls
 * nothing more until they are done: memory stays bounded however fast the
 * network is and however slow the store.
 */
const INSTALLS_IN_FLIGHT = 8 * 1024 * 1024;

/** A request waiting for bytes of the stream. */
interface Waiter {
  /** Cluster-aligned runs within the stream's range, still to come. */
  runs: Extent[];
  /** Where `dst` is in the disk (dst[0] is byte `at`); no dst: only the wait. */
  at: number;
  dst: Uint8Array | undefined;
  /** A write's partial cluster: delivered, not installed (the write commits it itself). */
  claim: boolean;
  /** Answered once the stream is past here. */
  end: number;
  resolve(): void;
  reject(err: unknown): void;
}

export interface ReadAheadOptions {
  /** How far past what a reader asked for the stream runs before it pauses. */
  leadBytes: number;
  /** A stream paused this long (its reader went away) is cancelled. */
  idleMs: number;
  /** Base bytes received (the overlay's counter). */
  received(n: number): void;
  /** The stream ended (done, failed or cancelled): the overlay forgets it. */
  ended(s: ReadAhead): void;
}

/**
 * Streaming read-ahead for a sequential reader of an overlay: one request
 * for the stretch [start, end) of the base, read as it arrives. Whole
 * clusters are installed into the map (copy-on-read) batch by batch — only
 * those still unallocated at that moment: a write or discard that got there
 * first is never overwritten — and each waiting request is answered as soon
 * as the stream is past the bytes it needs. Memory: one batch buffer.
 *
 * The stream runs at most `leadBytes` past the furthest byte a reader has
 * asked for, then pauses (nothing pulled: no timeout runs); paused for
 * `idleMs`, it is cancelled. A failure rejects exactly the waiting requests
 * (they needed bytes that did not come); installed clusters stay.
 */
export class ReadAhead {
  /** [start, frontier) is done: installed where still unallocated, given to its waiters. */
  frontier: number;
  /** The furthest byte a reader has asked for. */
  reach: number;
  private state: 'running' | 'done' | 'failed' | 'cancelled' = 'running';
  private readonly waiters: Waiter[] = [];
  private readonly batch: Uint8Array;
  /** Bytes received past the frontier, in `batch`. */
  private filled = 0;
  private wake: (() => void) | undefined;
  private idle: ReturnType<typeof setTimeout> | undefined;
  /** Installs not yet done, oldest first, and their bytes. */
  private readonly installing: { bytes: number; done: Promise<unknown> }[] = [];
  private installingBytes = 0;

  constructor(
    private readonly map: ClusterMapStore,
    private readonly src: BaseStream,
    readonly start: number,
    readonly end: number,
    reach: number,
    private readonly o: ReadAheadOptions,
  ) {
    this.frontier = start;
    this.reach = reach;
    const cs = map.clusterSize;
    this.batch = new Uint8Array(Math.min(Math.max(BATCH, cs), Math.ceil((end - start) / cs) * cs));
    void this.pump();
  }

  get live(): boolean {
    return this.state === 'running';
  }

  /** Whether a request at `offset` is this stream's reader (near where it reads, within its range). */
  near(offset: number, length: number): boolean {
    return this.live && offset < this.end && offset + length > this.frontier && offset <= this.reach + this.o.leadBytes;
  }

  /** A reader asked for bytes up to `to`: the stream pulls on (if it paused). */
  reachTo(to: number): void {
    if (to <= this.reach) return;
    this.reach = to;
    this.resume();
  }

  /**
   * Waits for `runs` (cluster-aligned, within [frontier, end)), copying
   * their bytes into `dst` (which holds the disk from byte `at`) as they
   * come. `claim`: a write's partial cluster, not installed by the stream.
   */
  wait(runs: Extent[], at: number, dst: Uint8Array | undefined, claim = false): Promise<void> {
    if (!this.live) return Promise.reject(new DiskError('EIO', 'The read-ahead ended.'));
    const end = Math.max(...runs.map((r) => r.offset + r.length));
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ runs, at, dst, claim, end, resolve, reject });
      this.reachTo(end);
      this.resume();
    });
  }

  /** Ends the request (the reader went elsewhere, close, reset, power loss); waiters get `why`. */
  cancel(why?: DiskError): void {
    if (this.state !== 'running') return;
    this.state = 'cancelled';
    this.src.cancel();
    this.finish(why ?? new DiskError('EIO', 'The read-ahead was cancelled.'));
  }

  private fail(err: unknown): void {
    if (this.state !== 'running') return;
    this.state = 'failed';
    this.src.cancel();
    this.finish(err);
  }

  private finish(err?: unknown): void {
    clearTimeout(this.idle);
    const w = this.wake;
    this.wake = undefined;
    w?.();
    for (const waiter of this.waiters.splice(0)) {
      if (err === undefined && waiter.end <= this.frontier) waiter.resolve();
      else waiter.reject(err ?? new DiskError('EIO', 'The read-ahead ended early.'));
    }
    this.o.ended(this);
  }

  private resume(): void {
    const w = this.wake;
    if (!w) return;
    this.wake = undefined;
    clearTimeout(this.idle);
    w();
  }

  private async pump(): Promise<void> {
    const cs = this.map.clusterSize;
    try {
      for (;;) {
        const have = this.frontier + this.filled;
        if (this.waiters.length === 0 && have >= this.reach + this.o.leadBytes && have < this.end) {
          // Far enough ahead: pull nothing (no timeout runs) until a reader comes
          // closer; what came is installed first (whole clusters), not held.
          this.flush(this.filled - (this.filled % cs));
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            this.idle = setTimeout(() => this.cancel(), this.o.idleMs);
          });
          if (this.state !== 'running') return;
          continue;
        }
        // The store is behind: let its installs land before pulling more.
        while (this.installingBytes > INSTALLS_IN_FLIGHT) {
          const oldest = this.installing.shift() as { bytes: number; done: Promise<unknown> };
          await oldest.done;
          this.installingBytes -= oldest.bytes;
          if (this.state !== 'running') return;
        }
        const chunk = await this.src.next();
        if (this.state !== 'running') return;
        if (!chunk) {
          // All of it came (the stream checked the length).
          this.flush(this.filled);
          this.state = 'done';
          this.finish();
          return;
        }
        this.o.received(chunk.length);
        for (let at = 0; at < chunk.length; ) {
          const n = Math.min(chunk.length - at, this.batch.length - this.filled);
          this.batch.set(chunk.subarray(at, at + n), this.filled);
          this.filled += n;
          at += n;
          if (this.filled === this.batch.length) this.flush(this.filled);
        }
        // Answer a waiter as soon as the whole clusters it needs are here.
        const whole = this.frontier + this.filled === this.end ? this.filled : this.filled - (this.filled % cs);
        if (whole > 0 && this.waiters.some((w) => w.end <= this.frontier + whole)) this.flush(whole);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * The first `n` bytes of the batch (whole clusters, or up to the end):
   * installed where the map still says unallocated — decided now, in one
   * synchronous step, so a write or discard that came first is kept — and
   * copied to the waiters that need them; waiters now complete are answered.
   */
  private flush(n: number): void {
    if (n === 0) return;
    const from = this.frontier;
    const to = from + n;
    const cs = this.map.clusterSize;
    const claimed = (c: number) =>
      this.waiters.some((w) => w.claim && w.runs.some((r) => r.offset <= c && c < r.offset + r.length));
    let runFrom = -1;
    const install = (a: number, b: number) => {
      try {
        const done = this.map.install(a, this.batch.subarray(a - from, b - from));
        if (done instanceof Promise) {
          this.installing.push({ bytes: b - a, done: done.catch(() => undefined) });
          this.installingBytes += b - a;
        }
      } catch {
        // Not installed (no space): the base's again next time.
      }
    };
    for (const e of this.map.blockStatus(from, n)) {
      if (e.state !== 'unallocated') continue;
      for (let c = e.offset; c < e.offset + e.length; c += cs) {
        const ok = !claimed(c);
        if (ok && runFrom < 0) runFrom = c;
        if (!ok && runFrom >= 0) {
          install(runFrom, c);
          runFrom = -1;
        }
      }
      if (runFrom >= 0) {
        install(runFrom, e.offset + e.length);
        runFrom = -1;
      }
    }
    for (const w of this.waiters) {
      if (!w.dst) continue;
      for (const r of w.runs) {
        const a = Math.max(from, r.offset, w.at);
        const b = Math.min(to, r.offset + r.length, w.at + w.dst.length);
        if (b > a) w.dst.set(this.batch.subarray(a - from, b - from), a - w.at);
      }
    }
    this.frontier = to;
    this.batch.copyWithin(0, n, this.filled);
    this.filled -= n;
    for (let i = 0; i < this.waiters.length; ) {
      const w = this.waiters[i];
      if (w.end <= this.frontier) {
        this.waiters.splice(i, 1);
        w.resolve();
      } else i++;
    }
  }
}
