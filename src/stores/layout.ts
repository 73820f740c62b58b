/** The on-disk layout every persistent backend shares: webdisk/<name>/{data.img,meta.bin}. */
export const ROOT_DIR = 'webdisk';
export const DATA_FILE = 'data.img';
export const META_FILE = 'meta.bin';

/** The Web Lock that makes a disk exclusive to one open, across tabs. */
export function lockName(name: string): string {
  return `webdisk:${name}`;
}
