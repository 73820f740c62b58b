import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * Builds the benchmark, not the library (that is `vite build --mode lib`):
 *  - default: the page and the raw-baseline worker to bench/dist/page/,
 *    served statically; the page loads /dist/webdisk.js at run time.
 *  - `--mode driver`: the Node driver (bench/run.ts) to bench/dist/node/run.mjs,
 *    with @playwright/test left external.
 */
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig(({ mode }) => {
  if (mode === 'driver') {
    return {
      root,
      publicDir: false,
      logLevel: 'warn',
      build: {
        outDir: 'dist/node',
        emptyOutDir: true,
        target: 'node20',
        ssr: 'run.ts',
        sourcemap: true,
        rollupOptions: { output: { entryFileNames: 'run.mjs', format: 'es' } },
      },
    };
  }
  return {
    root,
    base: './',
    publicDir: false,
    logLevel: 'warn',
    build: {
      outDir: 'dist/page',
      emptyOutDir: true,
      target: 'es2022',
      sourcemap: true,
      rollupOptions: { input: { page: fileURLToPath(new URL('./page.html', import.meta.url)) } },
    },
    worker: { format: 'es' },
  };
});
