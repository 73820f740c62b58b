import { defineConfig } from 'vite';

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
        // A second entry per adapter keeps webdisk.js free of emulator code.
        lib: {
          entry: { webdisk: 'src/index.ts', v86: 'src/adapters/v86.ts' },
          formats: ['es'],
          fileName: (_format, name) => `${name}.js`,
        },
      },
      worker: { format: 'es' },
    };
  }
  // The demo (npm start, npm run build).
  return {
    base: './',
    server: { headers: isolationHeaders },
    preview: { headers: isolationHeaders },
    build: { outDir: 'dist-demo', target: 'es2022', emptyOutDir: true },
    worker: { format: 'es' },
  };
});
