// The Linux guest of `npm run test:guest` (test/guest-linux.test.ts): Debian's
// i386 kernel (linux-image-686: no PAE needed) and a busybox initramfs, booted
// by v86 with an ext4 disk made here. Everything is fetched once into
// .cache/linux-guest/ (gitignored) and reused; nothing on the system changes:
// apt runs with its own lists and i386 as its only architecture, there.
//
//   node scripts/linux-guest.mjs            fetches what is missing, builds, prints the paths
//   node scripts/linux-guest.mjs --refresh  fetches the package lists and packages again
//
// Needs Debian's apt-get, dpkg-deb, cpio, mkfs.ext4 (e2fsprogs) and
// debian-archive-keyring, and deb.debian.org (or WEBDISK_DEBIAN_MIRROR).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const LINUX_GUEST_DIR = join(ROOT, '.cache/linux-guest');
const MIRROR = process.env.WEBDISK_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const SUITE = process.env.WEBDISK_DEBIAN_SUITE ?? 'bookworm';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
/** The kernel flavour: 686 runs on v86's CPU (686-pae would need PAE and NX). */
const KERNEL_META = 'linux-image-686';
const BUSYBOX = 'busybox-static';
/** The modules the guest loads (with what they depend on): the PIIX IDE v86 emulates, SCSI disks, ext4. */
const MODULES = ['ata_piix', 'sd_mod', 'crc32c_generic', 'ext4'];
/** The ext4 disk the guest mounts (made by mkfs.ext4 here, with its journal). */
export const LINUX_DISK_SIZE = 64 * 1024 * 1024;

/** ext4 with a journal, features every e2fsprogs since 1.43 makes and Linux 6.1 mounts. */
const MKE2FS_CONF = `[defaults]
	base_features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize,sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
`;

/** Whether `cmd` runs here. */
function runs(cmd, args) {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/** What building the guest needs and does not find, each with the Debian package that brings it. */
export function missingLinuxGuestTools() {
  const missing = [];
  if (!runs('apt-get', ['--version'])) missing.push('apt-get (a Debian system: apt)');
  if (!runs('dpkg-deb', ['--version'])) missing.push('dpkg-deb (apt-get install dpkg)');
  if (!runs('cpio', ['--version'])) missing.push('cpio (apt-get install cpio)');
  if (!runs('mkfs.ext4', ['-V'])) missing.push('mkfs.ext4 (apt-get install e2fsprogs)');
  if (!existsSync(KEYRING)) missing.push(`${KEYRING} (apt-get install debian-archive-keyring)`);
  return missing;
}

function run(cmd, args, what, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`linux-guest: ${what} failed (${cmd} ${args.join(' ')}): ${r.error?.message ?? out}`);
  }
  return r.stdout;
}

/** apt-get and apt-cache over a private state in the cache: i386 only, the system's apt untouched. */
function apt(dir) {
  const etc = join(dir, 'apt/etc');
  const opts = [
    `-o=Dir::Etc=${etc}`,
    `-o=Dir::State=${join(dir, 'apt/state')}`,
    `-o=Dir::Cache=${join(dir, 'apt/cache')}`,
    '-o=APT::Architecture=i386',
    '-o=APT::Architectures=i386',
    '-o=Debug::NoLocking=1',
    '-o=APT::Sandbox::User=root',
    '-qq',
  ];
  for (const d of ['apt/etc/apt.conf.d', 'apt/etc/preferences.d', 'apt/etc/sources.list.d']) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  for (const d of ['apt/state/lists/partial', 'apt/cache/archives/partial'])
    mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(etc, 'sources.list'), `deb [arch=i386 signed-by=${KEYRING}] ${MIRROR} ${SUITE} main\n`);
  return {
    update: () => run('apt-get', [...opts, 'update'], `fetching the i386 package lists of ${MIRROR} ${SUITE}`),
    hasLists: () => readdirSync(join(dir, 'apt/state/lists')).some((f) => /_Packages(\.|$)/.test(f)),
    depends: (pkg) => run('apt-cache', [...opts, 'depends', pkg], `looking up ${pkg}`),
    version: (pkg) => {
      const out = run('apt-cache', [...opts, 'show', '--no-all-versions', pkg], `looking up ${pkg}`);
      return /^Version: (.+)$/m.exec(out)?.[1];
    },
    download: (pkgs, cwd) =>
      run(
        'apt-get',
        [...opts, 'download', ...pkgs],
        `downloading ${pkgs.join(', ')} (if the mirror has newer versions: node scripts/linux-guest.mjs --refresh)`,
        { cwd },
      ),
  };
}

/** The newest kernel package linux-image-686 depends on (linux-image-6.1.0-NN-686). */
function kernelPackage(a) {
  const m = /Depends: (linux-image-[0-9][^\s]*-686)$/m.exec(a.depends(KERNEL_META));
  if (!m) throw new Error(`linux-guest: ${KERNEL_META} (${SUITE}, i386) depends on no linux-image-*-686 package`);
  return m[1];
}

/** The module's name as the kernel knows it (dashes are underscores). */
const modName = (file) => file.replace(/\.ko$/, '').replaceAll('-', '_');

/** Every .ko under `dir`, by module name. */
function modulesIn(dir, out = new Map()) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) modulesIn(p, out);
    else if (e.name.endsWith('.ko')) out.set(modName(e.name), p);
  }
  return out;
}

/** A module's `depends=` (its .modinfo section, read without a depmod). */
function dependsOf(path) {
  const bytes = readFileSync(path);
  const at = bytes.indexOf('\0depends=');
  if (at < 0) return [];
  const end = bytes.indexOf(0, at + 9);
  const list = bytes.subarray(at + 9, end).toString('latin1');
  return list ? list.split(',').map(modName) : [];
}

/** The modules to load, each after what it depends on. */
function loadOrder(all, wanted) {
  const order = [];
  const seen = new Set();
  const visit = (name, from) => {
    if (seen.has(name)) return;
    const path = all.get(name);
    if (!path)
      throw new Error(`linux-guest: the kernel package has no module ${name}${from ? ` (needed by ${from})` : ''}`);
    seen.add(name);
    for (const d of dependsOf(path)) visit(d, name);
    order.push(name);
  };
  for (const w of wanted) visit(w);
  return order;
}

/**
 * The guest's /init. The kernel command line says what to do, in order:
 * `webdisk=check:a,write:b` — check: print the md5 of /mnt/a (or "missing");
 * write: 256 KiB of random bytes to /mnt/b, `sync`, print its md5 ("SYNCED").
 * It prints the write cache the kernel sees, ends with "WEBDISK END" and
 * idles (the test pulls the plug). Lines for the test start with "WEBDISK".
 */
const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "WEBDISK $*"; }
fail() { say "FAIL $*"; dmesg | tail -n 30; say END; while true; do sleep 1000; done; }
for m in $(cat /modules); do insmod /lib/modules/$m.ko || fail "insmod $m"; done
i=0
while [ ! -b /dev/sda ]; do
  i=$((i + 1)); [ $i -gt 300 ] && fail "no /dev/sda"
  sleep 0.1
done
say CACHE "$(cat /sys/block/sda/queue/write_cache)"
mount -t ext4 /dev/sda /mnt || fail "mount"
steps=""
for w in $(cat /proc/cmdline); do case "$w" in webdisk=*) steps="\${w#webdisk=}";; esac; done
for s in $(echo "$steps" | tr , ' '); do
  name="\${s#*:}"
  case "$s" in
    check:*)
      if [ -f "/mnt/$name" ]; then say FILE "$name" "$(md5sum < "/mnt/$name" | cut -d' ' -f1)"
      else say FILE "$name" missing; fi ;;
    write:*)
      dd if=/dev/urandom of="/mnt/$name" bs=64k count=4 2>/dev/null || fail "write $name"
      sync
      say SYNCED "$name" "$(md5sum < "/mnt/$name" | cut -d' ' -f1)" ;;
    *) fail "unknown step $s" ;;
  esac
done
say END
while true; do sleep 1000; done
`;

const SIG_MAGIC = '~Module signature appended~\n';

/** A module without its appended signature (struct module_signature: its last 4 bytes, before the magic, are sig_len). */
function unsigned(ko) {
  const end = ko.length - SIG_MAGIC.length;
  if (end < 12 || ko.subarray(end).toString('latin1') !== SIG_MAGIC) return ko;
  const sigLen = ko.readUInt32BE(end - 4);
  return ko.subarray(0, end - 12 - sigLen);
}

/**
 * A cpio archive (newc) of `dir`, not compressed: decompressing it in the
 * emulated CPU would cost seconds of every boot.
 */
function initramfs(dir) {
  const files = run('find', ['.', '-mindepth', '1'], 'listing the initramfs', { cwd: dir });
  const r = spawnSync('cpio', ['-o', '-H', 'newc', '--quiet', '-R', '0:0'], {
    cwd: dir,
    input: files,
    maxBuffer: 256 << 20,
  });
  if (r.status !== 0) throw new Error(`linux-guest: cpio failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * Fetches (once) and builds the guest: the kernel, the initramfs and an
 * empty ext4 disk image, all under .cache/linux-guest/. Returns their paths.
 */
export function buildLinuxGuest({ refresh = false, log = () => {} } = {}) {
  const dir = LINUX_GUEST_DIR;
  const out = {
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initramfs.cpio'),
    disk: join(dir, 'ext4.img'),
    info: join(dir, 'guest.json'),
  };
  // The build is redone when this script changed (its hash is kept with it); the downloads are kept.
  const recipe = createHash('sha256')
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .digest('hex')
    .slice(0, 16);
  if (!refresh && Object.values(out).every((p) => existsSync(p))) {
    const info = JSON.parse(readFileSync(out.info, 'utf8'));
    if (info.recipe === recipe) return { ...out, ...info };
  }
  const missing = missingLinuxGuestTools();
  if (missing.length > 0) throw new Error(`linux-guest needs ${missing.join(', ')}`);
  mkdirSync(dir, { recursive: true });
  const a = apt(dir);
  if (refresh || !a.hasLists()) {
    log(`fetching the i386 package lists (${MIRROR} ${SUITE})`);
    a.update();
  }
  const kernelPkg = kernelPackage(a);
  const versions = { [kernelPkg]: a.version(kernelPkg), [BUSYBOX]: a.version(BUSYBOX) };
  const debs = join(dir, 'debs');
  mkdirSync(debs, { recursive: true });
  const debOf = (pkg) => readdirSync(debs).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('_i386.deb'));
  const wanted = [kernelPkg, BUSYBOX].filter((p) => refresh || !debOf(p));
  if (wanted.length > 0) {
    log(`downloading ${wanted.join(', ')}`);
    for (const p of wanted) {
      const old = debOf(p);
      if (old) rmSync(join(debs, old));
    }
    a.download(wanted, debs);
  }
  const extracted = join(dir, 'root');
  rmSync(extracted, { recursive: true, force: true });
  for (const p of [kernelPkg, BUSYBOX]) {
    const deb = debOf(p);
    if (!deb) throw new Error(`linux-guest: apt-get download gave no ${p}_*_i386.deb in ${debs}`);
    run('dpkg-deb', ['-x', join(debs, deb), extracted], `unpacking ${deb}`);
  }
  const kernelVersion = readdirSync(join(extracted, 'lib/modules'))[0];
  const vmlinuz = join(extracted, `boot/vmlinuz-${kernelVersion}`);
  if (!existsSync(vmlinuz)) throw new Error(`linux-guest: ${kernelPkg} has no boot/vmlinuz-${kernelVersion}`);

  log(`building the initramfs (busybox, ${MODULES.join(', ')} and their dependencies)`);
  const all = modulesIn(join(extracted, 'lib/modules', kernelVersion, 'kernel'));
  const order = loadOrder(all, MODULES);
  const staging = join(dir, 'initramfs');
  rmSync(staging, { recursive: true, force: true });
  for (const d of ['bin', 'proc', 'sys', 'dev', 'mnt', 'lib/modules']) mkdirSync(join(staging, d), { recursive: true });
  copyFileSync(join(extracted, 'bin/busybox'), join(staging, 'bin/busybox'));
  // Unsigned: checking a signature costs seconds each in v86 (the kernel loads them, tainted).
  for (const m of order) writeFileSync(join(staging, 'lib/modules', `${m}.ko`), unsigned(readFileSync(all.get(m))));
  writeFileSync(join(staging, 'modules'), `${order.join('\n')}\n`);
  writeFileSync(join(staging, 'init'), INIT, { mode: 0o755 });
  run('chmod', ['755', join(staging, 'bin/busybox'), join(staging, 'init')], 'chmod');
  writeFileSync(out.initrd, initramfs(staging));

  copyFileSync(vmlinuz, out.kernel);
  rmSync(extracted, { recursive: true, force: true }); // ~200 MB of modules, unpacked again for a rebuild

  log('making the ext4 disk image');
  rmSync(out.disk, { force: true });
  // Our own mke2fs.conf: the features are those this kernel mounts, whatever the host's e2fsprogs defaults to.
  const conf = join(dir, 'mke2fs.conf');
  writeFileSync(conf, MKE2FS_CONF);
  run(
    'mkfs.ext4',
    ['-q', '-F', '-L', 'webdisk', '-E', 'nodiscard', out.disk, `${LINUX_DISK_SIZE / 1024}k`],
    'making the ext4 image',
    { env: { ...process.env, MKE2FS_CONFIG: conf } },
  );
  const info = { kernelVersion, packages: versions, modules: order, recipe };
  writeFileSync(out.info, `${JSON.stringify(info, null, 2)}\n`);
  log(
    `built in ${relative(ROOT, dir)}: ${relative(ROOT, out.kernel)} (${sizeOf(out.kernel)}), ` +
      `${relative(ROOT, out.initrd)} (${sizeOf(out.initrd)}), ${relative(ROOT, out.disk)}`,
  );
  return { ...out, ...info };
}

const sizeOf = (p) => `${(statSync(p).size / 1048576).toFixed(1)} MiB`;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const g = buildLinuxGuest({ refresh: process.argv.includes('--refresh'), log: (m) => console.log(m) });
    console.log(JSON.stringify({ ...g, dir: dirname(g.kernel) }, null, 2));
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
