// Base images for overlay tests and benchmarks, served with HTTP Range
// support from memory: what a CDN serving an OS image does, with a control
// endpoint to change, break or count it. Used by the static server (e2e,
// bench) and by unit tests in Node.
//
//   GET /base/NAME              the image (Range: bytes=a-b → 206), counted;
//                               ?peek=1: not counted (a test's expected bytes)
//   GET /base-control/NAME?size=N&seed=S[&etag=E][&lastModified=1][&status=503][&ranges=0][&stallAfter=B][&cutAfter=B][&pieceDelay=MS]
//                               (re)defines it: N pattern bytes of seed S
//                               (or &file=PATH: a file of the repository);
//                               status: every request fails so; ranges=0:
//                               Range is ignored (a 200 with the whole body);
//                               stallAfter: a Range answer sends its headers
//                               and B bytes of body, then nothing (a stalled
//                               connection); cutAfter: … then closes the
//                               connection (a truncated body); pieceDelay:
//                               MS between 64 KiB pieces (a slow link)
//   GET /base-stats/NAME        {"requests": n, "bytes": n, "ranges": ["a-b", …],
//                               "delivered": n, "aborted": n}: bytes are those
//                               asked for; delivered, those handed to the
//                               connection (with pieceDelay: as the client
//                               takes them); aborted, answers whose
//                               connection closed before their end

import { readFileSync } from 'node:fs';

/** name → { bytes, etag, lastModified, status, ranges, requests, sent, log } */
const images = new Map();

/** Deterministic bytes of `seed` (xorshift32): the same in every process. */
export function baseBytes(size, seed) {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A file of the repository (a test guest's image), by its path from the repository's root. */
function repoFile(path) {
  if (!/^[\w./-]+$/.test(path) || path.split('/').includes('..')) throw new Error(`bad file ${path}`);
  return new Uint8Array(readFileSync(new URL(`../${path}`, import.meta.url)));
}

function define(name, q) {
  const file = q.get('file');
  const bytes = file ? repoFile(file) : baseBytes(Number(q.get('size') ?? 0), Number(q.get('seed') ?? 1));
  const size = bytes.length;
  const seed = Number(q.get('seed') ?? 1);
  images.set(name, {
    bytes,
    etag: q.has('etag') ? `"${q.get('etag')}"` : `"${size}-${seed}"`,
    lastModified:
      q.get('lastModified') === '1' ? new Date(Date.UTC(2026, 0, 1, 0, 0, seed % 60)).toUTCString() : undefined,
    status: Number(q.get('status') ?? 0),
    ranges: q.get('ranges') !== '0',
    stallAfter: q.has('stallAfter') ? Number(q.get('stallAfter')) : undefined,
    cutAfter: q.has('cutAfter') ? Number(q.get('cutAfter')) : undefined,
    pieceDelay: Number(q.get('pieceDelay') ?? 0),
    requests: 0,
    sent: 0,
    delivered: 0,
    aborted: 0,
    log: [],
  });
}

/**
 * Answers base-image requests: true if it did (the path was one of its
 * own). `headers`: extra headers for every answer (cross-origin isolation).
 */
export function handleBaseImage(req, res, headers = {}) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const m = /^\/(base|base-control|base-stats)\/([\w.-]+)$/.exec(url.pathname);
  if (!m) return false;
  const [, kind, name] = m;
  const json = (status, body) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
    res.end(JSON.stringify(body));
  };
  if (kind === 'base-control') {
    define(name, url.searchParams);
    json(200, { ok: true });
    return true;
  }
  const img = images.get(name);
  if (kind === 'base-stats') {
    json(
      200,
      img
        ? { requests: img.requests, bytes: img.sent, ranges: img.log, delivered: img.delivered, aborted: img.aborted }
        : { requests: 0, bytes: 0, ranges: [], delivered: 0, aborted: 0 },
    );
    return true;
  }
  const peek = url.searchParams.get('peek') === '1';
  if (!img) {
    res.writeHead(404, { 'Content-Type': 'text/plain', ...headers }).end('no such base image');
    return true;
  }
  if (!peek) img.requests++;
  if (img.status) {
    res.writeHead(img.status, { 'Content-Type': 'text/plain', ...headers }).end('failing on purpose');
    return true;
  }
  const total = img.bytes.length;
  const common = {
    'Content-Type': 'application/octet-stream',
    'Accept-Ranges': img.ranges ? 'bytes' : 'none',
    ETag: img.etag,
    ...(img.lastModified ? { 'Last-Modified': img.lastModified } : {}),
    'Cache-Control': 'no-store',
    ...headers,
  };
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (!range || !img.ranges || peek) {
    if (!peek) {
      img.sent += total;
      img.log.push(`0-${total - 1}`);
    }
    res.writeHead(200, { ...common, 'Content-Length': total });
    res.end(Buffer.from(img.bytes.buffer, img.bytes.byteOffset, total));
    return true;
  }
  const start = Number(range[1]);
  const end = Math.min(range[2] === '' ? total - 1 : Number(range[2]), total - 1);
  if (start >= total || end < start) {
    res.writeHead(416, { ...common, 'Content-Range': `bytes */${total}` }).end();
    return true;
  }
  img.sent += end - start + 1;
  img.log.push(`${start}-${end}`);
  res.writeHead(206, {
    ...common,
    'Content-Length': end - start + 1,
    'Content-Range': `bytes ${start}-${end}/${total}`,
  });
  if (img.stallAfter !== undefined) {
    // Headers and a first part, then silence until the client gives up.
    res.flushHeaders();
    const part = Math.min(img.stallAfter, end - start + 1);
    if (part > 0) res.write(Buffer.from(img.bytes.buffer, img.bytes.byteOffset + start, part));
    return true;
  }
  sendBody(res, img, start, end + 1);
  return true;
}

/**
 * Bytes [from, to) of `img`: at once, or with `pieceDelay` or `cutAfter`
 * in 64 KiB pieces, each once the connection took the last (so `delivered`
 * counts what left, and a client that cancels stops the rest); `cutAfter`
 * closes the connection early, `pieceDelay` waits between pieces.
 */
function sendBody(res, img, from, to) {
  let closed = false;
  res.on('close', () => {
    closed = true;
    if (!res.writableFinished) img.aborted++;
  });
  if (!img.pieceDelay && img.cutAfter === undefined) {
    // At full speed: handed over whole, as a plain static server does (the benchmark's baseline).
    img.delivered += to - from;
    res.end(Buffer.from(img.bytes.buffer, img.bytes.byteOffset + from, to - from));
    return;
  }
  const PIECE = 64 * 1024;
  const limit = img.cutAfter !== undefined ? Math.min(to, from + img.cutAfter) : to;
  let at = from;
  const more = () => {
    while (!closed) {
      if (at >= limit) {
        if (limit < to) res.destroy();
        else res.end();
        return;
      }
      const n = Math.min(PIECE, limit - at);
      const ok = res.write(Buffer.from(img.bytes.buffer, img.bytes.byteOffset + at, n));
      img.delivered += n;
      at += n;
      const next = img.pieceDelay ? () => setTimeout(more, img.pieceDelay) : more;
      if (!ok) {
        res.once('drain', next);
        return;
      }
      if (img.pieceDelay) {
        next();
        return;
      }
    }
  };
  more();
}
