// The platform's floor for crossing the page/worker boundary, with no
// webdisk code at all: one request at a time, as a queue depth of 1 does.
// A SharedArrayBuffer counter signalled with Atomics.notify and awaited with
// Atomics.waitAsync on both sides, and a plain postMessage echo.
// Usage: node bench/floor/run.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../../scripts/chromium.mjs';

const port = 5196;
const server = spawn('node', ['scripts/static-server.mjs', '.', String(port)], { stdio: 'ignore' });
try {
  await new Promise((r) => setTimeout(r, 500));
  const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'webdisk-floor-')), {
    executablePath: chromiumPath(),
    args: CHROMIUM_ARGS,
  });
  const page = await ctx.newPage();
  await page.goto(`http://127.0.0.1:${port}/bench/floor/index.html`);
  await page.waitForFunction(() => window.result, null, { timeout: 120_000 });
  const r = await page.evaluate(() => window.result);
  console.log(`Chromium ${ctx.browser()?.version() ?? ''}: one request at a time across the page/worker boundary`);
  console.log(`  SharedArrayBuffer + Atomics.waitAsync round trip: ${r.waitAsyncRoundTripUs} µs`);
  console.log(`  postMessage round trip:                           ${r.postMessageRoundTripUs} µs`);
  await ctx.close();
} finally {
  server.kill();
}
