import { DiskError } from '../core/errors';

/**
 * A read-only base image under an overlay disk: a URL read with HTTP Range
 * requests, or a Blob (a File the user picked). Bytes are read on demand
 * and checked against the identity recorded when the overlay was made, so
 * a base that changed gives an error, never mixed content.
 */

/** What identifies a base: recorded in the overlay's map at creation. */
export type BaseIdentity =
  | {
      kind: 'url';
      url: string;
      length: number;
      /** The server's validators, where it sent them. */
      etag?: string;
      lastModified?: string;
    }
  | { kind: 'blob'; length: number; name?: string; lastModified?: number };

/**
 * Where an overlay's base is, as openDisk() takes it (a URL already made
 * absolute). `timeoutMs`: how long the server may send nothing before a
 * read of the base fails with EIO (default 30 s): a stalled connection must
 * not hold the disk's requests for ever.
 */
export type BaseSpec = { url: string; timeoutMs?: number } | { blob: Blob };

/** How long a base server may send nothing, by default. */
export const BASE_TIMEOUT_MS = 30_000;

export interface BaseImage {
  readonly identity: BaseIdentity;
  /** For messages: the URL, or "the base Blob". */
  readonly label: string;
  /** The bytes [offset, offset + length) of the base (within its length). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * The same bytes as they arrive, in one request (for a long sequential
   * read): nothing is held beyond the piece next() gives.
   */
  stream(offset: number, length: number): BaseStream;
}

/**
 * A range of the base, read progressively. The inactivity timeout runs
 * only while next() waits: a stream nobody pulls (paused) does not time out.
 */
export interface BaseStream {
  /**
   * The next piece of the range, in order; undefined once all of it came.
   * Rejects EIO as read() does (changed base, error status, stall), and
   * when the body is shorter or longer than the range.
   */
  next(): Promise<Uint8Array | undefined>;
  /** Ends the request (the server sees the connection close); a next() waiting rejects. */
  cancel(): void;
}

/** The whole identity must match (a URL may move: the bytes it names may not change). */
export function sameBase(a: BaseIdentity, b: BaseIdentity): boolean {
  if (a.kind !== b.kind || a.length !== b.length) return false;
  if (a.kind === 'url' && b.kind === 'url') {
    return (a.etag ?? null) === (b.etag ?? null) && (a.lastModified ?? null) === (b.lastModified ?? null);
  }
  if (a.kind === 'blob' && b.kind === 'blob') return a.lastModified === b.lastModified && a.name === b.name;
  return false;
}

export function describeBase(id: BaseIdentity): string {
  if (id.kind === 'url') return `${id.url} (${id.length} bytes${id.etag ? `, ETag ${id.etag}` : ''})`;
  return `a Blob of ${id.length} bytes${id.name ? ` ("${id.name}")` : ''}`;
}

/** Opens the base `spec` names: a URL is asked for its length and validators (one 1-byte Range request). */
export async function openBase(spec: BaseSpec, expected?: BaseIdentity): Promise<BaseImage> {
  if ('blob' in spec) {
    const b = spec.blob;
    const identity: BaseIdentity = {
      kind: 'blob',
      length: b.size,
      ...(b instanceof File ? { name: b.name, lastModified: b.lastModified } : {}),
    };
    if (expected && !sameBase(expected, identity)) throw changed(expected, identity);
    return new BlobBase(b, identity);
  }
  if (expected) {
    // Reopening: the server is asked nothing now (it may be down, and local
    // clusters must stay readable); every answer is checked against the record.
    if (expected.kind !== 'url') {
      throw new DiskError(
        'EINVAL',
        `This overlay's base is ${describeBase(expected)}: give it again as base: { blob }.`,
      );
    }
    return new UrlBase({ ...expected, url: spec.url }, spec.timeoutMs);
  }
  const res = await rangeFetch(spec.url, 0, 1, spec.timeoutMs ?? BASE_TIMEOUT_MS);
  const length = totalLength(res);
  // One byte was asked for; a server that ignores Range sends the whole image: not read.
  res.settled();
  await res.body?.cancel();
  if (length === undefined) {
    throw new DiskError(
      'ENOTSUP',
      `The base ${spec.url} was not served with byte ranges (status ${res.status}, no Content-Range): an overlay reads its base in ranges. Serve it from a server with Range support.`,
    );
  }
  return new UrlBase(
    {
      kind: 'url',
      url: spec.url,
      length,
      ...validators(res),
    },
    spec.timeoutMs,
  );
}

/** The base recorded for an overlay reopened without `base`: only a URL can be found again. */
export function recordedBase(identity: BaseIdentity): BaseImage {
  if (identity.kind !== 'url') {
    throw new DiskError(
      'EINVAL',
      `This disk is an overlay over ${describeBase(identity)}: open it with base: { blob } giving that Blob again.`,
    );
  }
  return new UrlBase(identity);
}

class BlobBase implements BaseImage {
  readonly label = 'the base Blob';
  constructor(
    private readonly blob: Blob,
    readonly identity: BaseIdentity,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    try {
      return new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
    } catch (err) {
      throw blobFailed(err);
    }
  }

  stream(offset: number, length: number): BaseStream {
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    let got = 0;
    let cancelled = false;
    return {
      next: async () => {
        if (cancelled) throw cancelledError(this.label);
        reader ??= this.blob
          .slice(offset, offset + length)
          .stream()
          .getReader();
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (err) {
          throw cancelled ? cancelledError(this.label) : blobFailed(err);
        }
        if (r.done) {
          if (got !== length) throw shortBody(this.label, got, length);
          return undefined;
        }
        got += r.value.length;
        if (got > length) throw tooLong(this.label, length);
        return r.value;
      },
      cancel: () => {
        cancelled = true;
        reader?.cancel().catch(() => undefined);
      },
    };
  }
}

/** A File changed or removed on disk after it was picked fails to read. */
function blobFailed(err: unknown): DiskError {
  return new DiskError(
    'EIO',
    `The base Blob could not be read (${(err as Error)?.message ?? err}): pick the file again.`,
  );
}

class UrlBase implements BaseImage {
  readonly label: string;
  readonly identity: Extract<BaseIdentity, { kind: 'url' }>;

  constructor(
    identity: Extract<BaseIdentity, { kind: 'url' }>,
    private readonly timeoutMs = BASE_TIMEOUT_MS,
  ) {
    this.identity = identity;
    this.label = identity.url;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    return bodyOf(await this.open(offset, length), length, this.identity.url);
  }

  stream(offset: number, length: number): BaseStream {
    const url = this.identity.url;
    const abort = new AbortController();
    let cancelled = false;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    let got = 0;
    const opening = this.open(offset, length, abort).then((res) => {
      // The watchdog runs only while next() waits for bytes.
      res.settled();
      reader = (res.body as ReadableStream<Uint8Array>).getReader();
      if (cancelled) reader.cancel().catch(() => undefined);
      return res;
    });
    opening.catch(() => undefined);
    const cancel = () => {
      if (cancelled) return;
      cancelled = true;
      reader?.cancel().catch(() => undefined);
      abort.abort();
    };
    return {
      next: async () => {
        const res = await opening;
        if (cancelled || !reader) throw cancelledError(url);
        res.alive();
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (err) {
          throw cancelled ? cancelledError(url) : unreachable(url, err, res.timedOut() ? res.timeoutMs : 0);
        } finally {
          res.settled();
        }
        if (r.done) {
          if (got !== length) throw shortBody(url, got, length);
          return undefined;
        }
        got += r.value.length;
        if (got > length) {
          cancel();
          throw tooLong(url, length);
        }
        return r.value;
      },
      cancel,
    };
  }

  /** A Range request whose answer is checked against the identity: the response, its body unread. */
  private async open(offset: number, length: number, abort?: AbortController): Promise<WatchedResponse> {
    const id = this.identity;
    const res = await rangeFetch(id.url, offset, length, this.timeoutMs, abort);
    const total = totalLength(res);
    const got = { ...validators(res) };
    const same =
      total === id.length &&
      (id.etag === undefined || got.etag === id.etag) &&
      (id.lastModified === undefined || got.lastModified === id.lastModified);
    if (res.status !== 206 || !same) {
      res.settled();
      await res.body?.cancel();
      const now =
        total === undefined
          ? `status ${res.status} without a byte range`
          : `${total} bytes${got.etag ? `, ETag ${got.etag}` : ''}${got.lastModified ? `, Last-Modified ${got.lastModified}` : ''}`;
      throw new DiskError(
        'EIO',
        `The overlay's base ${id.url} changed: it was ${describeBase(id)} when the overlay was made, the server now answers ${now}. Its local changes are kept; reset() or delete the disk to start over from the new base.`,
      );
    }
    return res;
  }
}

/**
 * A response's body of exactly `length` bytes, read into one buffer as it
 * arrives (no copy of the whole at the end). The response's watchdog (see
 * rangeFetch) is fed as bytes come, so only a stall times out.
 */
async function bodyOf(res: WatchedResponse, length: number, url: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let got = 0;
  const tooMany = () => tooLong(url, length);
  try {
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.alive();
      if (got + value.length > length) {
        await reader.cancel();
        throw tooMany();
      }
      out.set(value, got);
      got += value.length;
    }
  } catch (err) {
    throw err instanceof DiskError ? err : unreachable(url, err, res.timedOut() ? res.timeoutMs : 0);
  } finally {
    res.settled();
  }
  if (got !== length) throw shortBody(url, got, length);
  return out;
}

function tooLong(label: string, length: number): DiskError {
  return new DiskError(
    'EIO',
    `The base ${label} sent more than the ${length} bytes asked for: check the server's Range support.`,
  );
}

function shortBody(label: string, got: number, length: number): DiskError {
  return new DiskError('EIO', `The base ${label} sent ${got} bytes for a range of ${length}: try again.`);
}

/** What a stream's next() gives once cancel() was called (only the stream's own pump sees it). */
function cancelledError(label: string): DiskError {
  return new DiskError('EIO', `The read-ahead from ${label} was cancelled.`);
}

/** A Response under a watchdog: `alive()` after progress, `settled()` when done with it. */
type WatchedResponse = Response & { alive(): void; settled(): void; timedOut(): boolean; timeoutMs: number };

/** `stalledMs`: the watchdog gave up after that long (0: the fetch failed by itself). */
function unreachable(url: string, err: unknown, stalledMs: number): DiskError {
  const why = stalledMs > 0 ? `it sent nothing for ${stalledMs / 1000} s` : `${(err as Error)?.message ?? err}`;
  return new DiskError(
    'EIO',
    `The overlay's base ${url} could not be fetched (${why}): check the network; local data stays readable.`,
  );
}

/**
 * GET with a Range header; any failure to get an answer, or an error
 * status, is EIO naming the URL. A server that sends nothing for
 * `timeoutMs` (before the headers or between body chunks) is given up on.
 */
async function rangeFetch(
  url: string,
  offset: number,
  length: number,
  timeoutMs: number,
  abort = new AbortController(),
): Promise<WatchedResponse> {
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const alive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, timeoutMs);
  };
  const settled = () => clearTimeout(timer);
  alive();
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { Range: `bytes=${offset}-${offset + length - 1}` },
      cache: 'no-store',
      signal: abort.signal,
    });
  } catch (err) {
    settled();
    throw unreachable(url, err, timedOut ? timeoutMs : 0);
  }
  alive();
  if (!res.ok) {
    settled();
    await res.body?.cancel();
    throw new DiskError(
      'EIO',
      `The overlay's base ${url} answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}: it is missing or failing; local data stays readable.`,
    );
  }
  return Object.assign(res, { alive, settled, timedOut: () => timedOut, timeoutMs });
}

/** The full length from `Content-Range: bytes a-b/total` (undefined without one). */
function totalLength(res: Response): number | undefined {
  if (res.status !== 206) return undefined;
  const m = /\/(\d+)\s*$/.exec(res.headers.get('Content-Range') ?? '');
  return m ? Number(m[1]) : undefined;
}

function validators(res: Response): { etag?: string; lastModified?: string } {
  const etag = res.headers.get('ETag') ?? undefined;
  const lastModified = res.headers.get('Last-Modified') ?? undefined;
  return { ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) };
}

function changed(was: BaseIdentity, now: BaseIdentity): DiskError {
  return new DiskError(
    'EIO',
    `The overlay's base changed: it was ${describeBase(was)} when the overlay was made, now it is ${describeBase(now)}. Give the same base, or reset() / delete the disk to start over.`,
  );
}
