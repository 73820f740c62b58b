import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StagingArea, type Stretch } from '../src/client/staging';

interface Held {
  stretch: Stretch;
  pos: number;
  bytes: Uint8Array;
}

/** Where a taken view lies in the area's memory. */
function posOf(area: StagingArea, view: Uint8Array): number {
  return view.byteOffset - area.bytes.byteOffset;
}

describe('StagingArea', () => {
  it('keeps every held copy intact, never overlapping, freed in any order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16, max: 256 }),
        fc.array(fc.oneof(fc.record({ take: fc.integer({ min: 1, max: 96 }) }), fc.record({ free: fc.nat() })), {
          maxLength: 120,
        }),
        (size, steps) => {
          const area = new StagingArea(new Uint8Array(size));
          const held: Held[] = [];
          let stamp = 0;
          for (const step of steps) {
            if ('take' in step) {
              const data = new Uint8Array(step.take).fill((++stamp % 255) + 1);
              const got = area.take(data);
              // With nothing held, anything that fits the area fits.
              if (held.length === 0 && data.length <= size) expect(got).toBeDefined();
              if (!got) continue;
              const pos = posOf(area, got.view);
              expect(pos + data.length).toBeLessThanOrEqual(size);
              for (const h of held) {
                const apart = pos + data.length <= h.pos || h.pos + h.bytes.length <= pos;
                expect(apart).toBe(true);
              }
              held.push({ stretch: got.stretch, pos, bytes: data });
            } else if (held.length > 0) {
              const [h] = held.splice(step.free % held.length, 1);
              area.free(h.stretch);
            }
            for (const h of held) {
              expect(area.bytes.subarray(h.pos, h.pos + h.bytes.length)).toEqual(h.bytes);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
