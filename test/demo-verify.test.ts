import { describe, expect, it } from 'vitest';
import { LOST, NEVER, SURVIVED, UNIT, VIOLATION } from '../src/demo/block-states';
import { verify } from '../src/demo/verify';
import { CACHE_MODES } from '../src/index';
import { checkDurability, patternBytes, prng, RequestLog } from '../src/testing';

const MiB = 1024 * 1024;
const CODE = { intact: SURVIVED, lost: LOST, violation: VIOLATION, untouched: NEVER } as const;

/**
 * A random session over a disk of `size` bytes: writes (aligned to their
 * size, or not), flushes and mode switches, most acknowledged; and what a
 * crash might have left: each write applied or not, in issue order.
 */
function session(seed: number, size: number, aligned: boolean) {
  const rnd = prng(seed);
  const log = new RequestLog('writeback');
  const base = new Uint8Array(size);
  for (let i = 0; i < size; i += 8192) base[i] = 1 + (i % 251); // earlier content in places
  const actual = base.slice();
  for (let i = 0; i < 400; i++) {
    const r = rnd();
    if (r < 0.08) {
      const e = log.flush();
      if (rnd() < 0.9) log.ack(e);
    } else if (r < 0.12) {
      const e = log.setMode(CACHE_MODES[Math.floor(rnd() * CACHE_MODES.length)]);
      log.ack(e);
    } else {
      const length = 512 * 2 ** Math.floor(rnd() * 8); // 512 B … 64 KiB
      const offset = aligned
        ? Math.floor(rnd() * (size / length)) * length
        : Math.floor(rnd() * ((size - length) / 512)) * 512;
      const s = Math.floor(rnd() * 2 ** 31);
      const e = log.write(offset, length, s);
      if (rnd() < 0.9) log.ack(e);
      if (rnd() < 0.7) actual.set(patternBytes(length, s), offset);
    }
  }
  return { log, base, actual };
}

async function compare(size: number, seed: number, aligned: boolean) {
  const { log, base, actual } = session(seed, size, aligned);
  // Break the contract in one block, so violations are compared too.
  actual.fill(0xee, 3 * UNIT + 100, 3 * UNIT + 200);
  const whole = checkDurability({ entries: log.entries, initialMode: log.initialMode, base, actual, blockSize: UNIT });
  const split = await verify({ entries: log.entries, initialMode: log.initialMode, base, actual });
  expect(split.intact).toBe(whole.intact);
  expect(split.lost).toBe(whole.lost);
  expect(split.violations).toBe(whole.violations);
  expect(split.untouched).toBe(whole.untouched);
  expect(Array.from(split.verdicts)).toEqual(whole.blocks.map((b) => CODE[b]));
  expect(split.details.map((d) => d.offset)).toEqual(whole.details.map((d) => d.offset));
  return whole;
}

describe('demo verify: the oracle run region by region', () => {
  it('gives the same verdicts as checkDurability over the whole disk (aligned writes)', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const whole = await compare(4 * MiB, seed, true);
      expect(whole.violations).toBeGreaterThan(0);
    }
  });

  it('gives the same verdicts when writes cross region boundaries (regions merge)', async () => {
    for (let seed = 11; seed <= 14; seed++) await compare(3 * MiB, seed, false);
  });

  it('handles a disk that is not a whole number of regions', async () => {
    await compare(2 * MiB + 64 * 1024, 21, true);
  });
});
