/**
 * The native reader's entry points: find the filesystems of a disk (GPT, MBR with logical partitions, or a bare
 * filesystem), read the ones we understand (ext2/3/4, vfat) into FilesystemViews, and say whether the whole image is
 * covered so `--backend auto` can prefer native.
 */
import type { FilesystemView } from '../backend.js';
import { BudgetError, oneLine, openFailure, TargetError } from '../../errors.js';
import { ExtFs, isExt } from './ext4.js';
import { rethrowIfStrict } from './fs.js';
export { setStrict } from './fs.js';
import { readerView, walk, WalkBudget, type FsReader } from './walk.js';
export { WalkBudget } from './walk.js';
import { readGpt } from './gpt.js';
import { readMbr } from './mbr.js';
import { WHOLE_DISK, type Partition } from './partition.js';
import { isQcow2, Qcow2Source } from './qcow2.js';
import { logicalVolumes, readPv, type PhysicalVolume } from './lvm.js';
import { CorruptImageError, FileSource, SliceSource, UnsupportedImageError, WindowCache, type ByteSource } from './source.js';
import { isVfat, VfatFs } from './vfat.js';
import { SquashFs, squashfsSupported } from './squashfs.js';
import { Iso9660Fs } from './iso9660.js';
import { ErofsFs, isErofs } from './erofs.js';
import { XfsFs } from './xfs.js';
import { BtrfsFs } from './btrfs.js';
import { isVdi, VdiSource } from './vdi.js';
import { isVhd, VhdSource } from './vhd.js';
import { isVhdx, VhdxSource } from './vhdx.js';
import { isVmdkSparse, VmdkSource } from './vmdk.js';
import type { Container } from '../../image/detect.js';
import { pushAll } from '../../arrays.js';

export { CorruptImageError, UnsupportedImageError, CheckedSource, FileSource, SliceSource, BufferSource, ExtentSource } from './source.js';
export type { ByteSource } from './source.js';
export { Qcow2Source, isQcow2 } from './qcow2.js';
export { VhdSource } from './vhd.js';
export { VhdxSource } from './vhdx.js';
export { VmdkSource } from './vmdk.js';
export { VdiSource } from './vdi.js';

/** A filesystem reader: how to open one on a device, and (for types with variants it refuses) whether it reads this one. */
interface ReaderKind {
  open(src: ByteSource, device: string): FsReader<unknown>;
  reads?(src: ByteSource): boolean;
}

// Directory blocks and symlink targets are small reads next to each other: ext reads through cached windows.
const EXT: ReaderKind = { open: (src, device) => new ExtFs(new WindowCache(src), device) };

/** The native filesystem readers, by the type they read (as blkid names it). A new format is one more line. */
const READERS: Readonly<Record<string, ReaderKind>> = {
  ext2: EXT,
  ext3: EXT,
  ext4: EXT,
  vfat: { open: (src, device) => new VfatFs(src, device) },
  squashfs: { open: (src, device) => new SquashFs(src, device), reads: squashfsSupported },
  iso9660: { open: (src, device) => new Iso9660Fs(src, device) },
  erofs: { open: (src, device) => new ErofsFs(src, device) },
  xfs: { open: (src, device) => new XfsFs(new WindowCache(src), device) },
  btrfs: { open: (src, device) => new BtrfsFs(new WindowCache(src), device) },
};

/** Filesystem types the native reader lists. */
export const NATIVE_TYPES: ReadonlySet<string> = new Set(Object.keys(READERS));

/**
 * Device types that hold no filesystem to list, as libguestfs treats them: swap and LVM physical volumes (their
 * logical volumes are devices of their own) are skipped; a LUKS volume cannot be opened without its key, by any
 * backend, so it is named as not audited (the target is then partial or failed, never clean).
 */
const SKIPPED: Record<string, string | null> = {
  swap: null,
  LVM2_member: null,
  crypto_LUKS: 'encrypted (LUKS), not audited',
};

/**
 * Whether the native reader reads this filesystem: its type, and for types with variants we refuse (squashfs 3 or
 * lzo), the variant. A refused variant is then a problem natively and sends `--backend auto` to libguestfs.
 */
function nativeReads(type: string | null, src: ByteSource): boolean {
  if (type !== null && type in SKIPPED) return true;
  const kind = type === null ? undefined : READERS[type];
  return kind !== undefined && (kind.reads?.(src) ?? true);
}

function has(src: ByteSource, off: number, magic: string): boolean {
  if (off + magic.length > src.size) return false;
  return src.read(off, magic.length).toString('latin1') === magic;
}

/**
 * Filesystem signatures after ext (whose type its superblock's features decide), in blkid's order; the types the
 * native reader does not read are named too, so that a problem can say what is there.
 */
const SIGNATURES: ReadonlyArray<readonly [string, (src: ByteSource) => boolean]> = [
  ['xfs', (src) => has(src, 0, 'XFSB')],
  ['erofs', isErofs],
  ['btrfs', (src) => has(src, 0x10040, '_BHRfS_M')],
  ['squashfs', (src) => has(src, 0, 'hsqs')],
  ['iso9660', (src) => has(src, 0x8001, 'CD001')],
  ['crypto_LUKS', (src) => has(src, 0, 'LUKS\xba\xbe')],
  ['LVM2_member', (src) => has(src, 512, 'LABELONE') && has(src, 536, 'LVM2 001')],
  ['swap', (src) => has(src, 4086, 'SWAPSPACE2') || has(src, 4086, 'SWAP-SPACE')],
  ['ntfs', (src) => has(src, 3, 'NTFS    ')],
  ['f2fs', (src) => src.size >= 1028 && src.read(1024, 4).readUInt32LE(0) === 0xf2f52010],
  ['vfat', isVfat],
];

/** The filesystem type on a device as blkid would name it, or null when nothing is recognised. */
export function detectFsType(src: ByteSource): string | null {
  if (isExt(src)) {
    // Decided by the superblock's features; a broken superblock still counts as ext (reading it will say why).
    try {
      return new ExtFs(src, '').type;
    } catch (err) {
      rethrowIfStrict(err);
      if (err instanceof UnsupportedImageError && /journal device/.test(err.message)) return 'jbd';
      return 'ext4';
    }
  }
  for (const [type, test] of SIGNATURES) if (test(src)) return type;
  return null;
}

/** One filesystem-bearing device of the image, before it is read. */
export interface ProbedDevice {
  device: string;
  partition: Partition | null;
  source: ByteSource;
  /** null: no filesystem recognised (an empty or unknown partition; libguestfs lists it as `unknown`). */
  type: string | null;
  supported: boolean;
  /** Why the native reader cannot read this device (an LVM volume it does not map); it is then unsupported. */
  problem?: string;
  /**
   * With `type: null`: the device holds data that is no filesystem this reader knows (not blank, not a BIOS boot or
   * reserved partition). It may be a filesystem the kernel knows, so the native reader cannot call it empty.
   */
  unknownContent?: boolean;
}

/** GPT partition types that never hold a filesystem: BIOS boot (GRUB's core.img), Microsoft reserved. */
const NON_FS_PART_TYPES: ReadonlySet<string> = new Set(['21686148-6449-6e6f-744e-656564454649', 'e3c9e316-0b5c-4db8-817d-f92df00215ae']);
/** How much of a device with no recognised filesystem is checked for being blank (all zero bytes). */
const BLANK_PROBE_BYTES = 64 * 1024;

function looksBlank(src: ByteSource): boolean {
  const n = Math.min(src.size, BLANK_PROBE_BYTES);
  const buf = src.read(0, n);
  for (let i = 0; i < n; i++) if (buf[i] !== 0) return false;
  return true;
}

export interface ProbeResult {
  table: 'gpt' | 'mbr' | 'none';
  devices: ProbedDevice[];
  problems: string[];
}

/** A device's filesystem type, whether we read it, and whether unrecognised data is there. */
function probeDevice(device: string, partition: Partition | null, src: ByteSource): ProbedDevice {
  const type = detectFsType(src);
  const unknownContent = type === null && !(partition && NON_FS_PART_TYPES.has(partition.partType)) && !looksBlank(src);
  return { device, partition, source: src, type, supported: nativeReads(type, src), unknownContent };
}

/**
 * The logical volumes of the LVM physical volumes among `devices`, as devices of their own (after them). A PV
 * whose label or metadata is unreadable, and an LV the reader does not map, are unsupported devices with a problem.
 */
function withLogicalVolumes(devices: ProbedDevice[], problems: string[]): ProbedDevice[] {
  const pvs: PhysicalVolume[] = [];
  for (const d of devices) {
    if (d.type !== 'LVM2_member') continue;
    try {
      pvs.push(readPv(d.device, d.source));
    } catch (err) {
      rethrowIfStrict(err);
      d.supported = false;
      d.problem = oneLine(err).replace(`${d.device}: `, '');
    }
  }
  if (pvs.length === 0) return devices;
  const lvm = logicalVolumes(pvs);
  pushAll(problems, lvm.problems);
  const out = [...devices];
  for (const lv of lvm.volumes) {
    if (!lv.source) {
      out.push({ device: lv.device, partition: null, source: pvs[0]!.source, type: null, supported: false, problem: lv.problem! });
      continue;
    }
    try {
      out.push(probeDevice(lv.device, null, lv.source));
    } catch (err) {
      rethrowIfStrict(err);
      problems.push(`${lv.device}: ${oneLine(err)}`);
    }
  }
  return out;
}

/** Find the partitions (or the bare filesystem), the logical volumes of LVM on them, and the filesystem type of each. */
export function probeNative(source: ByteSource): ProbeResult {
  const problems: string[] = [];
  const fromParts = (parts: Partition[]): ProbedDevice[] => {
    const out: ProbedDevice[] = [];
    for (const p of parts) {
      try {
        out.push(probeDevice(p.device, p, new SliceSource(source, p.start, p.size)));
      } catch (err) {
        rethrowIfStrict(err);
        problems.push(`${p.device}: ${(err as Error).message}`);
      }
    }
    return withLogicalVolumes(out, problems);
  };
  const gpt = readGpt(source);
  if (gpt) {
    pushAll(problems, gpt.problems);
    return { table: 'gpt', devices: fromParts(gpt.partitions), problems };
  }
  const whole = detectFsType(source);
  if (whole !== null) {
    const devices = [{ device: WHOLE_DISK, partition: null, source, type: whole, supported: nativeReads(whole, source) }];
    return { table: 'none', devices: withLogicalVolumes(devices, problems), problems };
  }
  const mbr = readMbr(source);
  if (mbr) {
    pushAll(problems, mbr.problems);
    return { table: 'mbr', devices: fromParts(mbr.partitions), problems };
  }
  return { table: 'none', devices: [], problems };
}

/**
 * Why the native readers cannot read the whole image, or null when they can: no filesystem found, a device they do
 * not recognise, a filesystem type or variant they do not read, or a feature a reader refuses when it opens the
 * filesystem (an UnsupportedImageError from its superblock checks). `auto` then hands the image to libguestfs and
 * says why. A filesystem that opens but is damaged stays native (the audit names the damage).
 */
export async function nativeRefusal(source: ByteSource): Promise<string | null> {
  let probe: ProbeResult;
  try {
    probe = probeNative(source);
  } catch (err) {
    return `cannot read the partition table (${oneLine(err)})`;
  }
  if (probe.devices.length === 0) return 'no filesystem found';
  for (const d of probe.devices) {
    if (d.problem !== undefined) return `${d.device}: ${d.problem}`;
    // Blank partitions hold nothing to read; unknown content may be a filesystem only libguestfs reads.
    if (d.type === null) {
      if (d.unknownContent) return `${d.device}: no filesystem the native readers recognise`;
      continue;
    }
    // Swap and LVM physical volumes hold nothing to list; a LUKS volume is named as not audited on every backend.
    if (d.type in SKIPPED) continue;
    const kind = READERS[d.type];
    if (!kind) return `${d.device}: ${d.type} is not read natively`;
    try {
      kind.open(d.source, d.device);
    } catch (err) {
      if (err instanceof UnsupportedImageError) return oneLine(err).startsWith(d.device) ? oneLine(err) : `${d.device}: ${oneLine(err)}`;
    }
    if (!d.supported) return `${d.device}: this ${d.type} variant is not read natively`;
  }
  return null;
}

/** True when the native readers read every filesystem found in the image (and at least one was found). */
export async function nativeSupports(source: ByteSource): Promise<boolean> {
  return (await nativeRefusal(source)) === null;
}

/**
 * Read every supported filesystem of the image. Unsupported filesystems and damage become problems (the target is
 * then `partial`); when nothing at all could be read and something was wrong, a TargetError says why. `budget` is
 * the target's: running past it (a BudgetError, the deadline's TimeoutError among them) ends the listing.
 */
export async function listNativeFilesystems(
  source: ByteSource,
  budget: WalkBudget = new WalkBudget(),
): Promise<{ views: FilesystemView[]; problems: string[] }> {
  let probe: ProbeResult;
  try {
    probe = probeNative(source);
  } catch (err) {
    rethrowIfStrict(err);
    if (err instanceof TargetError) throw err;
    throw new CorruptImageError(`cannot read the partition table: ${oneLine(err)}`);
  }
  const problems = [...probe.problems];
  const views: FilesystemView[] = [];
  for (const dev of probe.devices) {
    if (dev.problem !== undefined) {
      problems.push(`${dev.device}: ${dev.problem}`);
      continue;
    }
    if (dev.type !== null && dev.type in SKIPPED) {
      const why = SKIPPED[dev.type];
      if (why) problems.push(`${dev.device}: ${why}`);
      continue;
    }
    if (dev.type === null) {
      // Like libguestfs, a partition without a filesystem is skipped; one with unrecognised data is named.
      if (dev.unknownContent) problems.push(`${dev.device}: no filesystem the native reader recognises (try --backend guestfs)`);
      continue;
    }
    if (!dev.supported && !NATIVE_TYPES.has(dev.type)) {
      problems.push(`${dev.device}: ${dev.type} is not supported by the native reader`);
      continue;
    }
    try {
      const reader = READERS[dev.type]!.open(dev.source, dev.device);
      const walked = await walk(reader, dev.device, budget);
      pushAll(problems, walked.problems);
      views.push({
        ...readerView(reader, walked, dev.device),
        partlabel: dev.partition?.partlabel ?? null,
        partuuid: dev.partition?.partuuid ?? null,
      });
    } catch (err) {
      if (err instanceof BudgetError) throw err;
      rethrowIfStrict(err);
      const msg = oneLine(err);
      problems.push(msg.startsWith(dev.device) ? msg : `${dev.device}: ${msg}`);
    }
  }
  if (probe.devices.length === 0 || (probe.table === 'none' && probe.devices.every((d) => d.type === null))) {
    throw new TargetError(
      probe.table === 'none'
        ? 'no partition table or filesystem found'
        : `no filesystem found in the ${probe.table.toUpperCase()} partitions`,
    );
  }
  if (views.length === 0 && problems.length > 0) {
    throw new TargetError(problems.length > 1 ? `${problems[0]} (and ${problems.length - 1} more problems)` : problems[0]!);
  }
  return { views, problems };
}

/** The disk containers the native reader translates to the guest disk, by the name qemu gives the format. */
const CONTAINERS: Record<Exclude<Container, 'raw'>, { is(f: ByteSource): boolean; open(f: ByteSource): ByteSource }> = {
  qcow2: { is: isQcow2, open: (f) => new Qcow2Source(f) },
  vhdx: { is: isVhdx, open: (f) => new VhdxSource(f) },
  vmdk: { is: isVmdkSparse, open: (f) => new VmdkSource(f) },
  vdi: { is: isVdi, open: (f) => new VdiSource(f) },
  vpc: { is: isVhd, open: (f) => new VhdSource(f) },
};

/** Whether the native reader opens this container format (a vmdk only as a sparse extent, checked when opened). */
export function nativeContainer(format: Container): boolean {
  return format === 'raw' || format in CONTAINERS;
}

/**
 * The guest disk of a disk container held by any byte source (an image file, or a file inside an archive or another
 * image, like the VMDK in an OVA): by `format`, or else by its magic; a source that is no container is returned as is.
 */
export function openDiskContainer(file: ByteSource, format?: Container): ByteSource {
  if (format === 'raw') return file;
  if (format !== undefined) return CONTAINERS[format].open(file);
  for (const c of Object.values(CONTAINERS)) if (c.is(file)) return c.open(file);
  return file;
}

/**
 * Open an image file for the native reader: a disk container (qcow2, VHD, VHDX, sparse VMDK, VDI; by `format`, or
 * else by its magic) is translated to the guest disk, anything else is read as raw. Image-format detection proper
 * lives in src/image/; this is the native reader's own safe opener.
 */
export function openNativeSource(path: string, format?: Container): ByteSource {
  let file: FileSource;
  try {
    file = new FileSource(path);
  } catch (err) {
    throw openFailure(path, err);
  }
  try {
    return openDiskContainer(file, format);
  } catch (err) {
    file.close();
    throw err;
  }
}

/** Problems a container reader found that make the image it presents incomplete (e.g. a VHDX log it could not replay). */
export function sourceProblems(source: ByteSource): string[] {
  const p = (source as { problems?: unknown }).problems;
  return Array.isArray(p) ? (p as string[]) : [];
}
