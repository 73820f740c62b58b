import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

/** Where Debian's seabios package puts SeaBIOS (the emulator page boots with it). */
const SEABIOS = '/usr/share/seabios';

/**
 * Serves bios/*.bin from Debian's seabios package in `npm start` and
 * `vite preview`: the BIOS is GPL/LGPL firmware the project does not ship;
 * elsewhere the emulator page says how to get it.
 */
function seabios(): Plugin {
  const serve: Plugin['configureServer'] = (server) => {
    server.middlewares.use((req, res, next) => {
      const m = /\/bios\/([\w.-]+\.bin)$/.exec(req.url?.split('?')[0] ?? '');
      const file = m && join(SEABIOS, m[1]);
      if (!file || !existsSync(file)) return next();
      res.setHeader('Content-Type', 'application/octet-stream');
      for (const [k, v] of Object.entries(isolationHeaders)) res.setHeader(k, v);
      createReadStream(file).pipe(res);
    });
  };
  return {
    name: 'webdisk-seabios',
    configureServer: serve,
    configurePreviewServer: serve as Plugin['configurePreviewServer'],
  };
}

/** SharedArrayBuffer and Atomics need a cross-origin isolated page. */
export const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export default defineConfig(({ mode }) => {
  if (mode === 'lib') {
    // The library: dist/webdisk.js with the disk worker as a sibling asset.
    // base './' makes the worker URL relative to webdisk.js, so a plain
    // static page can import it from anywhere on its origin.
    return {
      base: './',
      publicDir: false,
      build: {
        outDir: 'dist',
        emptyOutDir: true,
        target: 'es2022',
        sourcemap: true,
        // An entry per adapter keeps webdisk.js free of emulator and SQLite code, and
        // one for the crash-test tooling (webdisk/testing) free of that.
        lib: {
          entry: {
            webdisk: 'src/index.ts',
            v86: 'src/adapters/v86.ts',
            sqlite: 'src/adapters/sqlite/index.ts',
            testing: 'src/testing/index.ts',
          },
          formats: ['es'],
          fileName: (_format, name) => `${name}.js`,
        },
      },
      worker: { format: 'es' },
    };
  }
  // The demo (npm start, npm run build): the cache-mode page and the emulator page.
  return {
    base: './',
    plugins: [seabios()],
    server: { headers: isolationHeaders },
    preview: { headers: isolationHeaders },
    build: {
      outDir: 'dist-demo',
      target: 'es2022',
      emptyOutDir: true,
      rollupOptions: { input: { main: 'index.html', emulator: 'emulator.html' } },
    },
    worker: { format: 'es' },
  };
});
