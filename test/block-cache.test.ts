import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockCache } from '../src/core/block-cache';

// The block cache against a reference model: an array in LRU order
// (least recent first). Each cached block's bytes hold its own index, so a
// slot handed to two blocks shows.

const BS = 16;
const CAPACITY = 8;

type Op =
  | { kind: 'insert'; block: number }
  | { kind: 'get'; block: number }
  | { kind: 'peek'; block: number }
  | { kind: 'remove'; block: number }
  | { kind: 'dirty'; block: number; on: boolean }
  | { kind: 'evict' }
  | { kind: 'clear' };

const block = fc.integer({ min: 0, max: 20 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('insert' as const), block }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('get' as const), block }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('peek' as const), block }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), block }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('dirty' as const), block, on: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'evict' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
);

function stamp(view: Uint8Array, b: number): void {
  view.fill(b + 1);
}

describe('BlockCache', () => {
  it('keeps LRU order, contents and the dirty set as a simple model does', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 200 }), (ops) => {
        const cache = new BlockCache(BS, BS * CAPACITY);
        let lru: number[] = [];
        const dirty = new Set<number>();
        for (const op of ops) {
          switch (op.kind) {
            case 'insert':
              if (lru.includes(op.block)) {
                expect(() => cache.insert(op.block)).toThrow();
                break;
              }
              if (lru.length === CAPACITY) {
                const victim = cache.oldest() as number;
                expect(victim).toBe(lru[0]);
                cache.remove(victim);
                lru.shift();
                dirty.delete(victim);
              }
              stamp(cache.insert(op.block), op.block);
              lru.push(op.block);
              break;
            case 'get': {
              const v = cache.get(op.block);
              if (!lru.includes(op.block)) expect(v).toBeUndefined();
              else {
                expect(v?.[0]).toBe(op.block + 1);
                lru = [...lru.filter((b) => b !== op.block), op.block];
              }
              break;
            }
            case 'peek':
              expect(cache.peek(op.block)?.[BS - 1]).toBe(lru.includes(op.block) ? op.block + 1 : undefined);
              break;
            case 'remove':
              cache.remove(op.block);
              lru = lru.filter((b) => b !== op.block);
              dirty.delete(op.block);
              break;
            case 'dirty':
              if (!lru.includes(op.block)) break;
              if (op.on) {
                cache.markDirty(op.block);
                dirty.add(op.block);
              } else {
                cache.markClean(op.block);
                dirty.delete(op.block);
              }
              break;
            case 'evict': {
              const victim = cache.oldest();
              expect(victim).toBe(lru[0]);
              if (victim !== undefined) {
                cache.remove(victim);
                lru.shift();
                dirty.delete(victim);
              }
              break;
            }
            case 'clear':
              cache.clear();
              lru = [];
              dirty.clear();
              break;
          }
          expect(cache.size).toBe(lru.length);
          expect(cache.full).toBe(lru.length === CAPACITY);
          expect(cache.oldest()).toBe(lru[0]);
          expect(cache.dirtyCount).toBe(dirty.size);
          expect(new Set(cache.allDirty())).toEqual(dirty);
          for (const b of lru) expect(cache.peek(b)?.[0]).toBe(b + 1);
        }
        // The LRU order, all of it: evicting one by one gives the model's order.
        const order: number[] = [];
        for (let v = cache.oldest(); v !== undefined; v = cache.oldest()) {
          order.push(v);
          cache.remove(v);
        }
        expect(order).toEqual(lru);
      }),
      { numRuns: 300 },
    );
  });
});
