/**
 * `npm run bench`'s command line: its flags, their checks and defaults.
 */
import { parseArgs } from 'node:util';
import { type BenchConfig, GiB, KiB, MiB } from './config';

const HELP = `npm run bench -- [flags]

  --size <bytes>     region every workload addresses, e.g. 256M, 1G (default 256M)
  --time <seconds>   issuing time per run; then drain and final flush (default 0.5)
  --repeats <n>      runs per case; median and spread reported (default 3)
  --depth <list>     requests in flight, comma-separated (default 1,32)
  --filter <regex>   only cases whose "<workload> <target>" matches, e.g. "rand-write (writeback/opfs|raw-opfs$)"
  --no-memory        skip the memory measurements (small and 64 GiB disk)
  --no-overlay       skip the overlay read (cold read of a URL base against a plain fetch)
  --no-images        skip image import/export (a 256 MiB raw Blob against raw OPFS sequential I/O)
  --no-sqlite        skip SQLite commits/s (npm run bench:sqlite's table: webdisk/sqlite per mode beside wa-sqlite's OPFS VFSes)
  --idb-chunk <n>    chunk size of the raw IndexedDB baseline (default 64K)
  --port <n>         static server port (default 5192)

Defaults take about 6-7 minutes on this 2-core VM.`;

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${JSON.stringify(s)}: use e.g. 4096, 64K, 256M, 1G`);
  const mult = { '': 1, k: KiB, m: MiB, g: GiB, t: 1024 * GiB }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

export function options() {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '256M' },
      time: { type: 'string', default: '0.5' },
      repeats: { type: 'string', default: '3' },
      depth: { type: 'string', default: '1,32' },
      filter: { type: 'string' },
      'no-memory': { type: 'boolean', default: false },
      'no-overlay': { type: 'boolean', default: false },
      'no-images': { type: 'boolean', default: false },
      'no-sqlite': { type: 'boolean', default: false },
      'idb-chunk': { type: 'string', default: '64K' },
      port: { type: 'string', default: '5192' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const region = parseSize(values.size);
  if (region < 16 * MiB || region % MiB !== 0) throw new Error('--size must be a whole number of MiB, at least 16M');
  const depths = values.depth.split(',').map((d) => Number(d));
  if (depths.some((d) => !Number.isInteger(d) || d < 1 || d > 256)) throw new Error('--depth: integers 1..256');
  const idbChunk = parseSize(values['idb-chunk']);
  if (idbChunk < 4 * KiB || (idbChunk & (idbChunk - 1)) !== 0 || idbChunk > MiB)
    throw new Error('--idb-chunk: a power of two from 4K to 1M');
  const cfg: BenchConfig = { region, timeMs: Number(values.time) * 1000, idbChunk };
  if (!(cfg.timeMs > 0)) throw new Error('--time must be positive');
  return {
    cfg,
    repeats: Math.max(1, Number(values.repeats) | 0),
    depths,
    filter: values.filter ? new RegExp(values.filter) : undefined,
    memory: !values['no-memory'],
    overlay: !values['no-overlay'],
    images: !values['no-images'],
    sqlite: !values['no-sqlite'],
    port: Number(values.port),
  };
}

export type BenchOptions = ReturnType<typeof options>;
