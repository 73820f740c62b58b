import type { CacheMode } from '../index';
import { byId } from './ui';

/**
 * The "SQLite on this disk" panel: N insert transactions on webdisk/sqlite
 * in the chosen cache mode, the plug pulled without a close, reopened on a
 * fresh SQLite module; shows how many committed transactions survived and
 * what integrity_check says, a row per run. SQLite (wa-sqlite's async build)
 * loads only when the panel first runs.
 */
export class SqlitePanel {
  private readonly mode = byId<HTMLSelectElement>('sqlite-mode');
  private readonly journal = byId<HTMLSelectElement>('sqlite-journal');
  private readonly count = byId<HTMLInputElement>('sqlite-count');
  private readonly run = byId<HTMLButtonElement>('sqlite-run');
  private readonly status = byId('sqlite-status');
  private readonly table = byId<HTMLTableElement>('sqlite-results');

  constructor() {
    this.run.addEventListener('click', () => void this.runOnce());
  }

  private async runOnce(): Promise<void> {
    const mode = this.mode.value as CacheMode;
    const journal = this.journal.value === 'delete' ? 'delete' : 'wal';
    const n = Math.max(1, Math.min(5000, Math.floor(Number(this.count.value)) || 1));
    this.run.disabled = true;
    try {
      this.status.textContent = `Running ${n} transactions in ${mode}…`;
      const r = await runAndCrash(mode, journal, n);
      this.status.textContent =
        `${mode}, ${journal.toUpperCase()}: ${r.survived} of ${r.committed} committed transactions survived ` +
        `the power loss; integrity_check: ${r.integrity}.`;
      this.addRow([mode, journal.toUpperCase(), r.committed, r.perSecond, r.survived, r.integrity]);
    } catch (err) {
      this.status.textContent = `SQLite run failed: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      this.run.disabled = false;
    }
  }

  private addRow(cells: (string | number)[]): void {
    const tr = document.createElement('tr');
    for (const c of cells) {
      const td = document.createElement('td');
      td.textContent = String(c);
      tr.append(td);
    }
    this.table.tBodies[0].prepend(tr);
    this.table.hidden = false;
  }
}

interface RunResult {
  committed: number;
  perSecond: number;
  survived: number;
  integrity: string;
}

/** A SQLite module, a WebdiskVFS on it and a connection to demo.db. */
async function session(vfsName: string, cache: CacheMode, journal: 'wal' | 'delete') {
  const [{ default: factory }, SQLite, { WebdiskVFS }] = await Promise.all([
    import('@journeyapps/wa-sqlite/dist/wa-sqlite-async.mjs'),
    import('@journeyapps/wa-sqlite'),
    import('../adapters/sqlite/index'),
  ]);
  const module: object = await factory();
  const sqlite3 = SQLite.Factory(module);
  const vfs = await WebdiskVFS.create(vfsName, module, { cache });
  sqlite3.vfs_register(vfs, false);
  const db = await sqlite3.open_v2('demo.db', SQLite.SQLITE_OPEN_READWRITE | SQLite.SQLITE_OPEN_CREATE, vfsName);
  const mode =
    journal === 'wal' ? 'PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL' : 'PRAGMA journal_mode=DELETE';
  await sqlite3.exec(db, `${mode}; PRAGMA synchronous=FULL`);
  const column = async (sql: string): Promise<string> => {
    const out: string[] = [];
    await sqlite3.exec(db, sql, (row) => out.push(String(row[0])));
    return out.join('; ');
  };
  return { sqlite3, vfs, db, column };
}

async function runAndCrash(cache: CacheMode, journal: 'wal' | 'delete', n: number): Promise<RunResult> {
  const { deleteDisk, listDisks } = await import('../index');
  const vfsName = `demo-sql-${journal}`;
  const drop = async () => {
    for (const d of await listDisks()) if (d.name.startsWith(`${vfsName}.`)) await deleteDisk(d.name);
  };
  await drop();
  const s = await session(vfsName, cache, journal);
  await s.sqlite3.exec(s.db, 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)');
  const t0 = performance.now();
  let committed = 0;
  for (let i = 1; i <= n; i++) {
    await s.sqlite3.exec(s.db, `INSERT INTO t VALUES (${i}, '${'x'.repeat(100)}')`);
    committed = i;
  }
  const perSecond = Math.round((committed * 1000) / (performance.now() - t0));
  s.vfs.powerLoss();
  const again = await session(vfsName, cache, journal);
  let survived = 0;
  let integrity: string;
  try {
    integrity = await again.column('PRAGMA integrity_check');
    survived = Number(await again.column('SELECT count(*) FROM t'));
  } catch (err) {
    integrity = `database lost (${err instanceof Error ? err.message : String(err)})`;
  }
  await again.sqlite3.close(again.db);
  await again.vfs.close();
  await drop();
  return { committed, perSecond, survived, integrity };
}
