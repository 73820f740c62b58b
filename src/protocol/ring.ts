import type { DiskErrorData } from '../core/errors';
import { CACHE_MODES, type CacheMode } from '../core/types';
import type { Request } from './messages';

/**
 * The shared-memory transport's layout: one SharedArrayBuffer per disk,
 * holding
 *   - a control block of Int32 counters the two sides wait on with
 *     Atomics.waitAsync (neither thread ever blocks),
 *   - a ring of request slots (client → worker),
 *   - a ring of response slots (worker → client), each with a small text
 *     area for error messages and stats,
 *   - a data arena for write payloads and read results.
 * The client allocates everything (slots and arena space, in FIFO order)
 * and frees it when the response arrives; the worker only reads requests
 * and writes answers where the request told it to. Nothing is allocated
 * per request: this is where webdisk's speed comes from (a postMessage
 * round trip costs ~100 µs here, a ring request ~2 µs).
 */
export const RING_SLOTS = 256;
/** Bytes of text (JSON) a response may carry: an error or the stats. */
export const RESPONSE_TEXT = 1024;
export const DEFAULT_ARENA = 8 * 1024 * 1024;
/** Requests larger than this are split into chunks by the client. */
export const MAX_CHUNK = 1024 * 1024;

/** Indexes into the Int32 control block. */
export const CTRL = {
  /** Requests published by the client (monotonic, wraps at 2^31). */
  reqSeq: 0,
  /** Responses published by the worker. */
  respSeq: 1,
  /** The power switch: 0 while on; powerLoss() sets 1 and the worker's stores refuse every call. */
  power: 2,
  /**
   * A SyncDisk's ring only: why the disk went away (0 while open; see
   * SYNC_CLOSED). The page sets it and notifies respSeq, so a blocked
   * synchronous call wakes and throws instead of waiting for ever.
   */
  closed: 3,
  /** A SyncDisk's ring only: 1 once a SyncDisk has claimed the port (one thread per ring). */
  owner: 4,
  /** Bytes of the arena when a staging area follows it (0: the arena is the rest of the buffer). */
  arenaBytes: 5,
  size: 16,
} as const;

/** Float64 fields of a request slot. */
/** A request's data is in the arena. */
export const BUFFER_ARENA = 0;
/** In the client's staging area (writes that waited for room in the ring). */
export const BUFFER_STAGING = 1;
/** The first number of a buffer lent by disk.allocBuffer(). */
export const FIRST_LENT_BUFFER = 2;

/**
 * Float64 fields of a request slot. `buffer`: where dataPos points — the
 * arena, the staging area, or a buffer lent by disk.allocBuffer().
 */
export const REQ = { op: 0, id: 1, offset: 2, length: 3, dataPos: 4, flag: 5, buffer: 6, size: 7 } as const;
/** Float64 fields of a response slot. */
export const RESP = { id: 0, status: 1, textLength: 2, size: 3 } as const;

export const OPS = [
  'read',
  'write',
  'flush',
  'discard',
  'setCacheMode',
  'stats',
  'close',
  'reset',
  'blockStatus',
] as const;

export const STATUS_OK = 0;
export const STATUS_ERROR = 1;

export interface RingViews {
  ctrl: Int32Array;
  req: Float64Array;
  resp: Float64Array;
  text: Uint8Array;
  arena: Uint8Array;
  /** Where writes that waited for room in the ring are copied (empty in a SyncDisk's ring). */
  staging: Uint8Array;
}

export function ringBytes(arena: number, staging = 0): number {
  return (
    CTRL.size * 4 +
    RING_SLOTS * REQ.size * 8 +
    RING_SLOTS * RESP.size * 8 +
    RING_SLOTS * RESPONSE_TEXT +
    arena +
    staging
  );
}

/** A ring's buffer with an arena of `arena` bytes and a staging area of `staging` after it. */
export function newRing(arena: number, staging = 0): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(ringBytes(arena, staging));
  if (staging > 0) new Int32Array(sab, 0, CTRL.size)[CTRL.arenaBytes] = arena;
  return sab;
}

/** The power switch as a one-element view, as PowerSwitchStore reads it. */
export function powerSwitchOf(sab: SharedArrayBuffer): Int32Array {
  return new Int32Array(sab, CTRL.power * 4, 1);
}

export function ringViews(sab: SharedArrayBuffer): RingViews {
  let at = 0;
  const ctrl = new Int32Array(sab, at, CTRL.size);
  at += CTRL.size * 4;
  const req = new Float64Array(sab, at, RING_SLOTS * REQ.size);
  at += RING_SLOTS * REQ.size * 8;
  const resp = new Float64Array(sab, at, RING_SLOTS * RESP.size);
  at += RING_SLOTS * RESP.size * 8;
  const text = new Uint8Array(sab, at, RING_SLOTS * RESPONSE_TEXT);
  at += RING_SLOTS * RESPONSE_TEXT;
  const arenaBytes = ctrl[CTRL.arenaBytes] || sab.byteLength - at;
  const arena = new Uint8Array(sab, at, arenaBytes);
  const staging = new Uint8Array(sab, at + arenaBytes);
  return { ctrl, req, resp, text, arena, staging };
}

/** A request as the worker decodes it from its slot. */
export interface RingRequest {
  id: number;
  request: Request;
  /** For write: where its bytes are; for read: where to put the result — in the arena, or in a lent buffer. */
  dataPos: number;
  /** 0: dataPos is in the arena; n > 0: in lent buffer n. */
  buffer: number;
}

export function encodeRequest(v: RingViews, slot: number, id: number, r: Request, dataPos: number, buffer = 0): void {
  if (r.op === 'read' || r.op === 'write') {
    encodeIo(v, slot, id, r.op, r.offset, r.length, r.op === 'write' && r.fua, dataPos, buffer);
    return;
  }
  const base = slot * REQ.size;
  const f = v.req;
  f[base + REQ.buffer] = buffer;
  f[base + REQ.op] = OPS.indexOf(r.op);
  f[base + REQ.id] = id;
  f[base + REQ.dataPos] = dataPos;
  f[base + REQ.offset] = 'offset' in r ? r.offset : 0;
  f[base + REQ.length] = 'length' in r ? r.length : 0;
  f[base + REQ.flag] = r.op === 'setCacheMode' ? CACHE_MODES.indexOf(r.mode as CacheMode) : 0;
}

/** A read or write request from its numbers: no request object (the page's hot path). */
export function encodeIo(
  v: RingViews,
  slot: number,
  id: number,
  op: 'read' | 'write',
  offset: number,
  length: number,
  fua: boolean,
  dataPos: number,
  buffer = 0,
): void {
  const base = slot * REQ.size;
  const f = v.req;
  f[base + REQ.buffer] = buffer;
  f[base + REQ.op] = OPS.indexOf(op);
  f[base + REQ.id] = id;
  f[base + REQ.dataPos] = dataPos;
  f[base + REQ.offset] = offset;
  f[base + REQ.length] = length;
  f[base + REQ.flag] = fua ? 1 : 0;
}

export function decodeRequest(v: RingViews, slot: number): RingRequest {
  const base = slot * REQ.size;
  const f = v.req;
  const op = OPS[f[base + REQ.op]];
  const id = f[base + REQ.id];
  const offset = f[base + REQ.offset];
  const length = f[base + REQ.length];
  const flag = f[base + REQ.flag];
  const dataPos = f[base + REQ.dataPos];
  const buffer = f[base + REQ.buffer];
  let request: Request;
  switch (op) {
    case 'read':
      request = { op, offset, length };
      break;
    case 'write':
      request = { op, offset, length, at: dataPos, fua: flag === 1 };
      break;
    case 'discard':
    case 'blockStatus':
      request = { op, offset, length };
      break;
    case 'setCacheMode':
      // An unknown index decodes to an unknown mode, which the core refuses.
      request = { op, mode: (CACHE_MODES[flag] ?? `mode#${flag}`) as CacheMode };
      break;
    default:
      request = { op: op ?? 'stats' } as Request;
  }
  return { id, request, dataPos, buffer };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes a response: status and, for errors and stats, JSON text. */
export function encodeResponse(v: RingViews, slot: number, id: number, status: number, json?: unknown): void {
  const base = slot * RESP.size;
  let length = 0;
  if (json !== undefined) {
    let bytes = encoder.encode(JSON.stringify(json));
    if (bytes.length > RESPONSE_TEXT) {
      // Only an overlong error message can get here: keep it readable.
      const e = json as DiskErrorData;
      bytes = encoder.encode(JSON.stringify({ code: e.code, message: String(e.message).slice(0, 600) }));
    }
    v.text.set(bytes, slot * RESPONSE_TEXT);
    length = bytes.length;
  }
  v.resp[base + RESP.id] = id;
  v.resp[base + RESP.status] = status;
  v.resp[base + RESP.textLength] = length;
}

export function decodeResponse(v: RingViews, slot: number): { id: number; status: number; json: unknown } {
  return { id: responseId(v, slot), status: responseStatus(v, slot), json: responseJson(v, slot) };
}

/** A response's id, its status and its JSON, read one at a time: no object per answer (the page's hot path). */
export function responseId(v: RingViews, slot: number): number {
  return v.resp[slot * RESP.size + RESP.id];
}

export function responseStatus(v: RingViews, slot: number): number {
  return v.resp[slot * RESP.size + RESP.status];
}

export function responseJson(v: RingViews, slot: number): unknown {
  const length = v.resp[slot * RESP.size + RESP.textLength];
  // TextDecoder refuses views of shared memory: copy the few bytes out.
  return length > 0
    ? JSON.parse(decoder.decode(v.text.slice(slot * RESPONSE_TEXT, slot * RESPONSE_TEXT + length)))
    : undefined;
}

/** Waits until ctrl[index] !== value, without blocking the thread. */
export function waitChange(ctrl: Int32Array, index: number, value: number): Promise<unknown> {
  const r = Atomics.waitAsync(ctrl, index, value);
  return r.async ? r.value : Promise.resolve();
}
