import fc from 'fast-check';
import { describe, it } from 'vitest';
import { CACHE_POLICY } from '../src/core/cache-modes';
import { CACHE_MODES, type CacheMode } from '../src/core/types';
import { newBackingOf, openOn, pattern, STORE_KINDS, sameBytes } from './helpers';

/**
 * Random sequences of write/read/flush/discard/setCacheMode/reopen against
 * a plain Uint8Array model: every read must equal the model, the cache
 * must stay under its cap, and each mode's invariants must hold. I/O is
 * issued one of three ways: awaited one by one, pipelined (issued, awaited
 * at the next flush), or through the synchronous calls (stores that are
 * synchronous: not IndexedDB).
 */
const DISK = 32 * 1024;

type Op =
  | { op: 'write'; offset: number; length: number; fua: boolean; seed: number }
  | { op: 'read'; offset: number; length: number }
  | { op: 'discard'; offset: number; length: number }
  | { op: 'flush' }
  | { op: 'mode'; mode: CacheMode }
  | { op: 'reopen' }
  | { op: 'crash' };

/** Offsets near block boundaries and short lengths make gaps, partial blocks and runs likely. */
const offsetArb = fc.oneof(
  fc.integer({ min: 0, max: DISK }),
  fc.tuple(fc.integer({ min: 0, max: DISK / 512 }), fc.integer({ min: -3, max: 3 })).map(([k, d]) => k * 512 + d),
);
const lengthArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 1100 }) },
  { weight: 2, arbitrary: fc.constantFrom(512, 1024, 4096) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 20_000 }) },
);
const range = fc.tuple(offsetArb, lengthArb).map(([o, length]) => {
  const offset = Math.min(Math.max(0, o), DISK);
  return { offset, length: Math.min(length, DISK - offset) };
});

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({ r: range, fua: fc.boolean(), seed: fc.nat() })
      .map(({ r, fua, seed }) => ({ op: 'write' as const, ...r, fua, seed })),
  },
  { weight: 4, arbitrary: range.map((r) => ({ op: 'read' as const, ...r })) },
  { weight: 1, arbitrary: range.map((r) => ({ op: 'discard' as const, ...r })) },
  { weight: 2, arbitrary: fc.constant({ op: 'flush' as const }) },
  { weight: 1, arbitrary: fc.constantFrom(...CACHE_MODES).map((mode) => ({ op: 'mode' as const, mode })) },
  { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'crash' as const }) },
);

const RUNS = Number(process.env.FC_RUNS ?? 300);
const STYLES = ['awaited', 'pipelined', 'sync'] as const;

describe.each(STORE_KINDS)('block device on the %s store against a Uint8Array model', (kind) => {
  it('reads always equal the model; the cache stays bounded; mode invariants hold', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...CACHE_MODES),
        fc.constantFrom(512, 1024, 4096),
        fc.integer({ min: 1, max: 12 }),
        fc.array(opArb, { minLength: 1, maxLength: 80 }),
        fc.constantFrom(...(kind === 'idb' ? (['awaited', 'pipelined'] as const) : STYLES)),
        fc.constantFrom(1024, 4096, 1 << 20),
        async (startMode, blockSize, cacheBlocks, ops, style, bypassBytes) => {
          const b = newBackingOf(kind);
          const cacheSize = cacheBlocks * blockSize;
          const pipelined = style === 'pipelined';
          const synchronous = style === 'sync';
          const open = (o: Parameters<typeof openOn>[1]) => openOn(b, o, { synchronous });
          let mode = startMode;
          let d = await open({ size: DISK, blockSize, cacheSize, cache: mode, bypassBytes });
          const model = new Uint8Array(DISK);
          /** The store's content as it must be after a process crash, for modes without a write cache. */
          const pending: Promise<void>[] = [];
          const settle = async () => {
            await Promise.all(pending.splice(0));
          };
          /** storeSyncs after the previous op: unsafe must never add one. */
          let syncsBefore = 0;
          for (const o of ops) {
            if (o.op === 'reopen' || o.op === 'crash') syncsBefore = 0;
            switch (o.op) {
              case 'write': {
                const data = pattern(o.length, o.seed);
                if (synchronous) {
                  d.writeSync(o.offset, data, { fua: o.fua });
                  model.set(data, o.offset);
                  data.fill(0xff); // done with it once the call returned
                  break;
                }
                // The core may use `data` until the write settles, never after.
                const p = d.write(o.offset, data, { fua: o.fua }).then(() => {
                  data.fill(0xff);
                });
                model.set(data, o.offset);
                if (pipelined) pending.push(p);
                else await p;
                break;
              }
              case 'read': {
                const expected = model.slice(o.offset, o.offset + o.length);
                if (synchronous) {
                  const got = new Uint8Array(o.length);
                  d.readIntoSync(o.offset, got);
                  sameBytes(got, expected, `readIntoSync ${o.offset}+${o.length}`);
                  break;
                }
                const p = d
                  .read(o.offset, o.length)
                  .then((got) => sameBytes(got, expected, `read ${o.offset}+${o.length}`));
                if (pipelined) pending.push(p);
                else await p;
                break;
              }
              case 'discard': {
                if (synchronous) {
                  d.discardSync(o.offset, o.length);
                  model.fill(0, o.offset, o.offset + o.length);
                  break;
                }
                const p = d.discard(o.offset, o.length);
                model.fill(0, o.offset, o.offset + o.length);
                if (pipelined) pending.push(p);
                else await p;
                break;
              }
              case 'flush':
                await settle();
                if (synchronous) d.flushSync();
                else await d.flush();
                break;
              case 'mode':
                await settle();
                await d.setCacheMode(o.mode);
                mode = o.mode;
                break;
              case 'reopen':
                await settle();
                await d.close();
                d = await open({ cacheSize, cache: mode, bypassBytes });
                if (d.uncleanShutdown) throw new Error('clean close reported unclean');
                break;
              case 'crash': {
                // A process crash: the worker's memory is gone, the store is kept.
                await settle();
                const hadWriteCache = CACHE_POLICY[mode].writeCache;
                const dirty = (await d.stats()).dirtyBytes;
                d = await open({ cacheSize, cache: mode, bypassBytes });
                if (!d.uncleanShutdown) throw new Error('crash not reported as unclean');
                if (!hadWriteCache || dirty === 0) {
                  // Nothing was only in the worker cache: nothing may be lost.
                  sameBytes(await d.read(0, DISK), model, 'after process crash');
                } else {
                  // Unflushed cached writes may be lost: adopt what survived.
                  model.set(await d.read(0, DISK));
                }
                break;
              }
            }
            if (!pipelined) {
              const s = await d.stats();
              const p = CACHE_POLICY[mode];
              if (s.cachedBytes > cacheSize || s.peakCachedBytes > cacheSize)
                throw new Error(`cache over cap: ${s.cachedBytes}`);
              if (!p.writeCache && s.dirtyBytes !== 0) throw new Error(`${mode} holds dirty data`);
              if (!p.readCache && s.cachedBytes !== 0) throw new Error(`${mode} caches data`);
              if (!p.syncOnFlush && s.storeSyncs !== syncsBefore) throw new Error('unsafe synced');
              syncsBefore = s.storeSyncs;
            }
          }
          await settle();
          sameBytes(await d.read(0, DISK), model, 'final');
          await d.close();
          const again = await openOn(b, { cacheSize });
          sameBytes(await again.read(0, DISK), model, 'after clean close and reopen');
          await again.close();
        },
      ),
      { numRuns: RUNS },
    );
  });
});
