import { describe, expect, it } from 'vitest';
import {
  BlockTracker,
  DIRTY,
  DURABLE,
  LOST,
  NEVER,
  STATES,
  STORE,
  SURVIVED,
  UNIT,
  VIOLATION,
} from '../src/demo/block-states';

describe('demo block states: what the page infers from acks and flushes', () => {
  it('writeback: dirty at ack; a completed flush makes what was acked before its issue durable', () => {
    const t = new BlockTracker(16 * UNIT);
    t.reset();
    t.writeAcked(0, UNIT, 'writeback', false, 1);
    t.writeAcked(UNIT, UNIT, 'writeback', false, 3);
    expect([t.state[0], t.state[1], t.state[2]]).toEqual([DIRTY, DIRTY, NEVER]);
    t.flushDone(2, 'writeback'); // issued between the two acks
    expect([t.state[0], t.state[1]]).toEqual([DURABLE, DIRTY]);
    t.flushDone(4, 'writeback');
    expect(t.state[1]).toBe(DURABLE);
  });

  it('none: in the store at ack; unsafe: a flush only writes back; writethrough and directsync: durable at ack', () => {
    const t = new BlockTracker(8 * UNIT);
    t.reset();
    t.writeAcked(0, UNIT, 'none', false, 1);
    t.writeAcked(UNIT, UNIT, 'unsafe', false, 2);
    t.writeAcked(2 * UNIT, UNIT, 'writethrough', false, 3);
    t.writeAcked(3 * UNIT, UNIT, 'directsync', false, 4);
    t.writeAcked(4 * UNIT, UNIT, 'writeback', true, 5); // FUA
    t.writeAcked(5 * UNIT, UNIT, 'unsafe', true, 6); // FUA is not forced in unsafe
    expect(Array.from(t.state.subarray(0, 6))).toEqual([STORE, DIRTY, DURABLE, DURABLE, DURABLE, DIRTY]);
    t.flushDone(7, 'unsafe');
    expect(Array.from(t.state.subarray(0, 6))).toEqual([STORE, STORE, DURABLE, DURABLE, DURABLE, STORE]);
    t.modeSwitched(8, 'writethrough'); // the switch writes back and syncs
    expect(Array.from(t.state.subarray(0, 6))).toEqual(new Array(6).fill(DURABLE));
  });

  it('a write smaller than a unit, or spanning several, marks every unit it touches', () => {
    const t = new BlockTracker(8 * UNIT);
    t.reset();
    t.writeAcked(UNIT - 512, 1024, 'writeback', false, 1);
    expect(Array.from(t.state.subarray(0, 3))).toEqual([DIRTY, DIRTY, NEVER]);
  });

  it('reset reads earlier content as durable; verdicts replace live states; untouched earlier data stays durable', () => {
    const content = new Uint8Array(4 * UNIT);
    content[2 * UNIT + 5] = 9;
    const t = new BlockTracker(4 * UNIT);
    t.reset(content);
    expect(Array.from(t.state)).toEqual([NEVER, NEVER, DURABLE, NEVER]);
    t.writeAcked(0, 2 * UNIT, 'unsafe', false, 1);
    t.applyVerdicts(Uint8Array.from([SURVIVED, LOST, NEVER, NEVER]));
    expect(Array.from(t.state)).toEqual([SURVIVED, LOST, DURABLE, NEVER]);
    t.applyVerdicts(Uint8Array.from([VIOLATION, NEVER, NEVER, NEVER]));
    expect(t.state[0]).toBe(VIOLATION);
    expect(t.counts()[DURABLE]).toBe(2);
  });

  it('cells count the units of each state in equal regions', () => {
    const t = new BlockTracker(8 * UNIT);
    t.reset();
    t.writeAcked(0, 3 * UNIT, 'writethrough', false, 1);
    const cells = t.cells(2); // 4 units each
    const n = STATES.length;
    expect(cells[0 * n + DURABLE]).toBe(3);
    expect(cells[0 * n + NEVER]).toBe(1);
    expect(cells[1 * n + NEVER]).toBe(4);
  });
});
