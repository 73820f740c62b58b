import { DiskError } from '../index';
import { prng } from '../testing';
import type { Session } from './session';

export type Pattern = 'sequential' | 'random' | 'mixed';

export interface LoadConfig {
  pattern: Pattern;
  /** Bytes per request: a power of two from 512 to 1 MiB; requests are aligned to it. */
  ioSize: number;
  /** Requests in flight. */
  depth: number;
  /** Issue a flush after every this many writes; 0: never. */
  flushEvery: number;
  /** Seconds; 0: until stopped. */
  duration: number;
}

/** Why a run ended. */
export type RunEnd =
  | { reason: 'done' | 'stopped' | 'log-full' | 'power-loss' }
  | { reason: 'error'; error: DiskError | Error };

/**
 * Drives a session: `depth` lanes, each issuing its next request when its
 * last one completes, so `depth` requests are always in flight. Writes go
 * through the session (logged for the oracle); every `flushEvery` writes a
 * lane issues a flush.
 */
export class LoadGenerator {
  private readonly session: Session;
  private readonly config: LoadConfig;
  private readonly random: () => number;
  private stopping = false;
  private cursor = 0;
  private writesIssued = 0;
  private end: RunEnd | undefined;

  constructor(session: Session, config: LoadConfig) {
    this.session = session;
    this.config = config;
    this.random = prng((Math.random() * 2 ** 32) >>> 0);
  }

  /** Runs until the duration passes, stop() is called, the disk goes away or a request fails. */
  async run(): Promise<RunEnd> {
    const deadline = this.config.duration > 0 ? performance.now() + this.config.duration * 1000 : Infinity;
    const lanes = Array.from({ length: this.config.depth }, () => this.lane(deadline));
    await Promise.all(lanes);
    return this.end ?? { reason: 'stopped' };
  }

  stop(): void {
    this.stopping = true;
  }

  private async lane(deadline: number): Promise<void> {
    const s = this.session;
    while (!this.stopping) {
      if (performance.now() >= deadline) return this.finish({ reason: 'done' });
      if (s.logFull) return this.finish({ reason: 'log-full' });
      try {
        if (this.config.pattern === 'mixed' && this.random() < 0.5) {
          await s.read(this.offset(), this.config.ioSize);
        } else {
          const offset = this.offset();
          this.writesIssued++;
          const flushNow = this.config.flushEvery > 0 && this.writesIssued % this.config.flushEvery === 0;
          await s.write(offset, this.config.ioSize);
          if (flushNow) await s.flush();
        }
      } catch (err) {
        if (s.disk.closed && err instanceof DiskError && err.code === 'ECLOSED') {
          return this.finish({ reason: 'power-loss' });
        }
        return this.finish({ reason: 'error', error: err as Error });
      }
    }
  }

  private finish(end: RunEnd): void {
    this.end ??= end;
    this.stopping = true;
  }

  private offset(): number {
    const slots = Math.floor(this.session.disk.size / this.config.ioSize);
    if (this.config.pattern === 'sequential') {
      const at = this.cursor;
      this.cursor = (this.cursor + 1) % slots;
      return at * this.config.ioSize;
    }
    return Math.floor(this.random() * slots) * this.config.ioSize;
  }
}
