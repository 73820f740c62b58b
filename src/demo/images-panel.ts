import { type Disk, DiskError, importDisk, listDisks, openDisk } from '../index';
import { formatBytes } from './format';
import { byId } from './ui';

/**
 * The "Disk images" panel: import a raw or qcow2 file (picker or drop) as a
 * new disk, export a disk as a qcow2 or raw download, each with a progress
 * bar. `openedDisk` gives the disk the page has open (exported as it is,
 * since a second open of it would be EBUSY); `onImported` lets the page
 * offer the new disk.
 */
export class ImagesPanel {
  private readonly file = byId<HTMLInputElement>('import-file');
  private readonly drop = byId('drop');
  private readonly disks = byId<HTMLSelectElement>('export-disk');
  private readonly format = byId<HTMLSelectElement>('export-format');
  private readonly exportButton = byId<HTMLButtonElement>('export');
  private readonly bar = byId<HTMLProgressElement>('image-progress');
  private readonly status = byId('image-status');
  private busy = false;

  constructor(
    private readonly openedDisk: () => Disk | undefined,
    private readonly onImported: (name: string) => void = () => undefined,
  ) {
    this.file.addEventListener('change', () => {
      const f = this.file.files?.[0];
      if (f) void this.importFile(f);
      this.file.value = '';
    });
    this.drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      this.drop.classList.add('over');
    });
    this.drop.addEventListener('dragleave', () => this.drop.classList.remove('over'));
    this.drop.addEventListener('drop', (e) => {
      e.preventDefault();
      this.drop.classList.remove('over');
      const f = e.dataTransfer?.files[0];
      if (f) void this.importFile(f);
    });
    this.exportButton.addEventListener('click', () => void this.exportSelected());
    this.disks.addEventListener('focus', () => void this.refresh());
    void this.refresh();
  }

  /** Lists the disks to export (the page calls it when disks come and go). */
  async refresh(): Promise<void> {
    const names = (await listDisks().catch(() => [])).map((d) => d.name);
    const open = this.openedDisk()?.name;
    if (open && !names.includes(open)) names.unshift(open);
    const keep = this.disks.value;
    this.disks.replaceChildren(
      ...names.map((n) => {
        const o = document.createElement('option');
        o.value = n;
        o.textContent = n === open ? `${n} (open)` : n;
        return o;
      }),
    );
    if (names.includes(keep)) this.disks.value = keep;
    this.exportButton.disabled = names.length === 0 || this.busy;
  }

  private progress(fraction: number | undefined, text: string): void {
    const label = this.bar.parentElement as HTMLElement;
    label.hidden = fraction === undefined;
    if (fraction !== undefined) this.bar.value = fraction;
    this.status.textContent = text;
  }

  private async importFile(f: File): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    const name = await freeName(f.name);
    this.progress(0, `Importing ${f.name} as “${name}”…`);
    try {
      const disk = await importDisk({
        name,
        source: f,
        onProgress: (p) =>
          this.progress(p.bytes / p.total, `Importing ${f.name}: ${formatBytes(p.bytes)} of ${formatBytes(p.total)}`),
      });
      const stats = await disk.stats();
      const size = disk.size;
      await disk.close();
      this.progress(
        undefined,
        `Imported ${f.name} as disk “${name}”: ${formatBytes(size)}, ${formatBytes(stats.allocatedBytes ?? 0)} stored.`,
      );
      this.onImported(name);
    } catch (err) {
      this.progress(undefined, `Import failed: ${errorText(err)}`);
    } finally {
      this.busy = false;
      await this.refresh();
    }
  }

  private async exportSelected(): Promise<void> {
    const name = this.disks.value;
    if (this.busy || !name) return;
    const format = this.format.value === 'raw' ? 'raw' : 'qcow2';
    this.busy = true;
    this.exportButton.disabled = true;
    const opened = this.openedDisk();
    const mine =
      opened?.name === name && !opened.closed ? undefined : await openDisk({ name }).catch((err) => err as Error);
    try {
      if (mine instanceof Error) throw mine;
      const disk = mine ?? (opened as Disk);
      this.progress(0, `Exporting “${name}” as ${format}…`);
      const stream = disk.export({
        format,
        onProgress: (p) =>
          this.progress(
            p.bytes / p.total,
            `${p.phase === 'scan' ? 'Finding the written clusters of' : 'Exporting'} “${name}”: ${formatBytes(p.bytes)} of ${formatBytes(p.total)}`,
          ),
      });
      const blob = await new Response(stream).blob();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `${name}.${format === 'qcow2' ? 'qcow2' : 'img'}`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
      this.progress(undefined, `Exported “${name}” as ${a.download} (${formatBytes(blob.size)}).`);
    } catch (err) {
      this.progress(undefined, `Export failed: ${errorText(err)}`);
    } finally {
      if (mine && !(mine instanceof Error)) await mine.close().catch(() => undefined);
      this.busy = false;
      await this.refresh();
    }
  }
}

function errorText(err: unknown): string {
  if (err instanceof DiskError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** A disk name from a file name, not yet taken. */
async function freeName(fileName: string): Promise<string> {
  const stem =
    fileName
      .replace(/\.[^.]*$/, '')
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .slice(0, 48) || 'image';
  const taken = new Set((await listDisks().catch(() => [])).map((d) => d.name));
  if (!taken.has(stem)) return stem;
  for (let i = 2; ; i++) if (!taken.has(`${stem}-${i}`)) return `${stem}-${i}`;
}
