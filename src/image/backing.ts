/**
 * Backing files: a qcow2, vmdk or VHD can name another file on the host that qemu would open and read. An image is
 * untrusted input, so hostleak refuses such an image unless the user allows it (`--allow-backing-file`).
 *
 * Parsed natively (no qemu-img): qcow2 backing file and external data file, vmdk parent (parentFileNameHint) and
 * extent files of a text descriptor, VHD differencing disks.
 */
import { promises as fsp } from 'node:fs';
import { TargetError } from '../errors.js';
import { readAt, type Container } from './detect.js';

export interface HostReference {
  /** What kind of reference: 'backing file', 'external data file', 'parent', 'extent file'. */
  kind: string;
  /** The host path (or name) as stored in the image. */
  path: string;
}


function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, '?');
}

async function qcow2Refs(fh: fsp.FileHandle): Promise<HostReference[]> {
  const refs: HostReference[] = [];
  const hdr = await readAt(fh, 0, 104);
  if (hdr.length < 72) throw new TargetError('truncated qcow2 header');
  const version = hdr.readUInt32BE(4);
  const backingOff = Number(hdr.readBigUInt64BE(8));
  const backingSize = hdr.readUInt32BE(16);
  if (backingOff !== 0 && backingSize > 0) {
    if (backingSize > 1023) throw new TargetError('corrupt qcow2 header (backing file name too long)');
    const name = (await readAt(fh, backingOff, backingSize)).toString('utf8');
    refs.push({ kind: 'backing file', path: printable(name) });
  }
  if (version >= 3 && hdr.length >= 104) {
    const incompat = hdr.readBigUInt64BE(72);
    const headerLength = hdr.readUInt32BE(100);
    const externalData = (incompat & 4n) !== 0n;
    // Header extensions follow the header: {u32 type, u32 length, data padded to 8}; end is type 0.
    let off = headerLength;
    for (let i = 0; i < 64 && off > 0 && off < 65536; i++) {
      const ext = await readAt(fh, off, 8);
      if (ext.length < 8) break;
      const type = ext.readUInt32BE(0);
      const len = ext.readUInt32BE(4);
      if (type === 0) break;
      if (type === 0x44415441 /* 'DATA': external data file name */ && len > 0 && len < 4096) {
        refs.push({ kind: 'external data file', path: printable((await readAt(fh, off + 8, len)).toString('utf8')) });
      }
      off += 8 + Math.ceil(len / 8) * 8;
    }
    if (externalData && !refs.some((r) => r.kind === 'external data file')) {
      refs.push({ kind: 'external data file', path: '(unnamed)' });
    }
  }
  return refs;
}

/** The text descriptor of a vmdk: the file itself (descriptor vmdk) or the one embedded in a sparse extent. */
async function vmdkDescriptor(fh: fsp.FileHandle): Promise<{ text: string; embedded: boolean }> {
  const head = await readAt(fh, 0, 512);
  if (head.subarray(0, 4).toString('latin1') === 'KDMV') {
    const offSectors = Number(head.readBigUInt64LE(28));
    const sizeSectors = Number(head.readBigUInt64LE(36));
    if (offSectors === 0 || sizeSectors === 0) return { text: '', embedded: true };
    const len = Math.min(sizeSectors * 512, 64 * 1024);
    return { text: (await readAt(fh, offSectors * 512, len)).toString('latin1').replace(/\0.*$/s, ''), embedded: true };
  }
  if (head.subarray(0, 4).toString('latin1') === 'COWD') return { text: '', embedded: true };
  return { text: (await readAt(fh, 0, 64 * 1024)).toString('latin1').replace(/\0.*$/s, ''), embedded: false };
}

export function vmdkRefsFromDescriptor(text: string, embedded: boolean): HostReference[] {
  const refs: HostReference[] = [];
  let parentCid: string | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const kv = /^([A-Za-z.]+)\s*=\s*"?([^"]*)"?$/.exec(line);
    if (kv) {
      const [, key, value] = kv;
      if (key === 'parentFileNameHint' && value) refs.push({ kind: 'parent', path: printable(value) });
      if (key === 'parentCID') parentCid = value!.toLowerCase();
      continue;
    }
    // Extent lines: RW 4192256 SPARSE "disk-s001.vmdk" [offset]
    const ext = /^(RW|RDONLY|NOACCESS)\s+\d+\s+(\w+)\s+"([^"]*)"/.exec(line);
    if (ext && !embedded && ext[2] !== 'ZERO') refs.push({ kind: 'extent file', path: printable(ext[3]!) });
  }
  if (parentCid && parentCid !== 'ffffffff' && !refs.some((r) => r.kind === 'parent')) {
    refs.push({ kind: 'parent', path: '(unnamed parent disk)' });
  }
  return refs;
}

async function vhdRefs(fh: fsp.FileHandle): Promise<HostReference[]> {
  const footer = await readAt(fh, 0, 512);
  if (footer.subarray(0, 8).toString('latin1') !== 'conectix') return [];
  const diskType = footer.readUInt32BE(60);
  if (diskType !== 4) return [];
  // Differencing disk: the dynamic header (at data offset) has the parent's Unicode name at 64 (UTF-16BE, 512 bytes).
  const dynOff = Number(footer.readBigUInt64BE(16));
  const dyn = await readAt(fh, dynOff, 1024);
  let name = '(unnamed parent disk)';
  if (dyn.length >= 576 && dyn.subarray(0, 8).toString('latin1') === 'cxsparse') {
    const raw = dyn.subarray(64, 576);
    const swapped = Buffer.from(raw).swap16();
    const s = swapped.toString('utf16le').replace(/\0.*$/s, '');
    if (s) name = printable(s);
  }
  return [{ kind: 'parent', path: name }];
}

/** Every host file the image would make qemu open, as stored in the image. */
export async function hostReferences(file: string, container: Container): Promise<HostReference[]> {
  if (container !== 'qcow2' && container !== 'vmdk' && container !== 'vpc') return [];
  const fh = await fsp.open(file, 'r');
  try {
    if (container === 'qcow2') return await qcow2Refs(fh);
    if (container === 'vpc') return await vhdRefs(fh);
    const d = await vmdkDescriptor(fh);
    return vmdkRefsFromDescriptor(d.text, d.embedded);
  } finally {
    await fh.close();
  }
}

/** Refuse an image that references host files, unless allowed. The error names the first reference. */
export async function checkBackingFiles(file: string, container: Container, allow: boolean): Promise<HostReference[]> {
  const refs = await hostReferences(file, container);
  if (refs.length > 0 && !allow) {
    const r = refs[0]!;
    const more = refs.length > 1 ? ` (and ${refs.length - 1} more)` : '';
    throw new TargetError(
      `refusing ${container} image with a ${r.kind} on the host: ${r.path}${more}; pass --allow-backing-file to read it`,
    );
  }
  return refs;
}
