// A plain static file server for e2e tests and benchmarks: serves the repo
// root (dist/, e2e/pages/, bench/) with the cross-origin isolation headers
// SharedArrayBuffer needs. No bundler in the way: pages import dist/ as a
// user's static page would.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { handleBaseImage } from './base-images.mjs';

const root = resolve(process.argv[2] ?? '.');
const port = Number(process.argv[3] ?? process.env.PORT ?? 5174);
const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.img': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

createServer((req, res) => {
  // Base images for overlays (Range requests, counted): see base-images.mjs.
  if (handleBaseImage(req, res, { 'Cross-Origin-Resource-Policy': 'same-origin' })) return;
  const url = new URL(req.url ?? '/', 'http://localhost');
  let path = normalize(join(root, decodeURIComponent(url.pathname)));
  if (!path.startsWith(root)) {
    res.writeHead(403).end();
    return;
  }
  // The emulator page's BIOS: Debian's seabios package, not shipped (see vite.config.ts).
  const bios = /\/bios\/([\w.-]+\.bin)$/.exec(url.pathname);
  if (bios && !existsSync(path)) path = join('/usr/share/seabios', bios[1]);
  try {
    if (statSync(path).isDirectory()) path = join(path, 'index.html');
    const st = statSync(path);
    // ?isolation=off serves a page that is not cross-origin isolated, to
    // test webdisk's fallback transport.
    const isolation =
      url.searchParams.get('isolation') === 'off'
        ? {}
        : {
            'Cross-Origin-Opener-Policy': 'same-origin',
            'Cross-Origin-Embedder-Policy': 'require-corp',
            'Cross-Origin-Resource-Policy': 'same-origin',
          };
    res.writeHead(200, {
      'Content-Type': types[extname(path)] ?? 'application/octet-stream',
      'Content-Length': st.size,
      ...isolation,
      'Cache-Control': 'no-store',
    });
    createReadStream(path).pipe(res);
  } catch {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
  }
}).listen(port, '127.0.0.1', () => console.log(`static server on http://127.0.0.1:${port}/ serving ${root}`));
