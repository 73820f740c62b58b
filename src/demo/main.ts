import { openDisk } from '../index';

// A minimal page until the demo issue: open a disk, write, read back.
const status = document.querySelector('#status') as HTMLElement;
async function main(): Promise<void> {
  const disk = await openDisk({ name: 'demo', size: 64 * 1024 * 1024 });
  await disk.write(0, new TextEncoder().encode('hello, webdisk'));
  const back = new TextDecoder().decode(await disk.read(0, 14));
  status.textContent = `Disk "${disk.name}" (${disk.backend}, ${disk.cacheMode}): read back "${back}". crossOriginIsolated=${crossOriginIsolated}`;
  await disk.close();
}
main().catch((err: Error) => {
  status.textContent = `Error: ${err.message}`;
});
