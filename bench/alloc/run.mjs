// What the page allocates per request, and the page time each costs: 4 KiB
// writes (acknowledged early, and FUA) and reads on a memory disk in
// writeback, with a CDP sampling heap profile that counts objects the
// garbage collector has already taken. The caller's own share (its lane's
// await) is in the figure: a few dozen bytes.
// Usage: npm run bench:alloc (after npm run build:lib)
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../../scripts/chromium.mjs';

const port = 5195;
const N = 100_000;
const server = spawn('node', ['scripts/static-server.mjs', '.', String(port)], { stdio: 'ignore' });
try {
  await new Promise((r) => setTimeout(r, 500));
  const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'webdisk-alloc-')), {
    executablePath: chromiumPath(),
    args: CHROMIUM_ARGS,
  });
  const page = await ctx.newPage();
  await page.goto(`http://127.0.0.1:${port}/bench/alloc/index.html`);
  await page.waitForFunction(() => window.ready, null, { timeout: 30_000 });
  const transport = await page.evaluate(() => window.setup());
  const cdp = await ctx.newCDPSession(page);
  console.log(
    `Chromium ${ctx.browser()?.version() ?? ''}, ${transport} transport, memory disk in writeback, ${N} requests of 4 KiB each:`,
  );
  for (const [kind, depth, what] of [
    ['write', 32, 'write, acknowledged early, 32 in flight'],
    ['write', 1, 'write, acknowledged early, 1 in flight'],
    ['fua', 32, 'FUA write, 32 in flight'],
    ['read', 32, 'cached read (readInto), 32 in flight'],
  ]) {
    await page.evaluate(([k, n, d]) => window.requests(k, n, d), [kind, N / 4, depth]); // warm up
    await cdp.send('HeapProfiler.startSampling', {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    const ms = await page.evaluate(([k, n, d]) => window.requests(k, n, d), [kind, N, depth]);
    const { profile } = await cdp.send('HeapProfiler.stopSampling');
    let bytes = 0;
    const walk = (node) => {
      bytes += node.selfSize;
      for (const c of node.children) walk(c);
    };
    walk(profile.head);
    console.log(
      `  ${what.padEnd(42)} ${((ms * 1000) / N).toFixed(2).padStart(6)} µs each (wall clock), ${String(Math.round(bytes / N)).padStart(4)} B allocated per request`,
    );
  }
  await page.evaluate(() => window.teardown());
  await ctx.close();
} finally {
  server.kill();
}
