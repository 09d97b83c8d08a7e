/**
 * Host references: a qcow2, vmdk, VHD, VHDX or VDI can name other files that qemu would open and read on the host.
 * An image is untrusted input, so hostleak refuses such an image unless the user allows it (`--allow-backing-file`).
 *
 * The checks follow how qemu itself finds those references, never a stricter grammar (a reference qemu finds and we
 * do not is a host file read through the image):
 * - VMDK text descriptor (a file that qemu parses as a descriptor, or the descriptor a sparse header points at when
 *   its capacity is 0): the descriptor file holds no data, every extent is another file. qemu reads up to 1 MiB of
 *   it and scans each line start with `sscanf("%10s %ld %10s \"%511[^\n\r\"]\" %ld")`, whose blanks match any white
 *   space including line breaks and whose numbers take a sign. Such an image is always refused; the extents qemu
 *   would open are listed.
 * - VMDK parent: qemu searches the first 10240 bytes of the descriptor span (offset 0 of a text descriptor, 0x200 of
 *   a sparse file, whatever the header's descriptor offset says) with `strstr("parentFileNameHint")` — comments
 *   included — and takes the text two characters later up to the next `"`. Every occurrence is checked here.
 * - qcow2: the backing file name in the header and the external data file (incompatible bit 2, or a 'DATA' header
 *   extension anywhere in the first cluster).
 * - VHD, VHDX, VDI differencing images: their data lives in a parent image on the host.
 */
import { promises as fsp } from 'node:fs';
import { TargetError } from '../errors.js';
import { readAt, type Container } from './detect.js';

export interface HostReference {
  /** What kind of reference: 'backing file', 'external data file', 'parent', 'extent file', 'descriptor'. */
  kind: string;
  /** The host path (or name) as stored in the image, with control characters made visible. */
  path: string;
}

/** qemu's DESC_SIZE: the span searched for parentFileNameHint and the CIDs. */
export const VMDK_DESC_SPAN = 20 * 512;
/** qemu's vmdk_read_desc limit: (1 << 20) - 1 bytes of a descriptor. */
export const VMDK_DESC_MAX = (1 << 20) - 1;

function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}

/** A C string: the bytes up to the first NUL, as latin1 (one char per byte, like qemu's char arithmetic). */
function cString(buf: Buffer): string {
  const nul = buf.indexOf(0);
  return buf.subarray(0, nul < 0 ? buf.length : nul).toString('latin1');
}

async function qcow2Refs(fh: fsp.FileHandle): Promise<HostReference[]> {
  const refs: HostReference[] = [];
  const hdr = await readAt(fh, 0, 104);
  if (hdr.length < 72) throw new TargetError('truncated qcow2 header');
  const version = hdr.readUInt32BE(4);
  const backingOff = Number(hdr.readBigUInt64BE(8));
  const backingSize = hdr.readUInt32BE(16);
  const clusterBits = hdr.readUInt32BE(20);
  if (backingOff !== 0 && backingSize > 0) {
    if (backingSize > 1023) throw new TargetError('corrupt qcow2 header (backing file name too long)');
    const name = (await readAt(fh, backingOff, backingSize)).toString('utf8');
    refs.push({ kind: 'backing file', path: printable(name) || '(unnamed)' });
  }
  const externalData = version >= 3 && hdr.length >= 104 && (hdr.readBigUInt64BE(72) & 4n) !== 0n;
  // Header extensions {u32 type, u32 length, data padded to 8} follow the header, up to the end of the first cluster
  // (qemu reads them for v2 too). Walk all of them: padding with unknown extensions must not hide a 'DATA' one.
  const headerLength = version >= 3 && hdr.length >= 104 ? hdr.readUInt32BE(100) : 72;
  const clusterSize = clusterBits >= 9 && clusterBits <= 21 ? 2 ** clusterBits : 2 ** 21;
  if (headerLength >= 72 && headerLength < clusterSize) {
    const area = await readAt(fh, headerLength, clusterSize - headerLength);
    for (let off = 0; off + 8 <= area.length; ) {
      const type = area.readUInt32BE(off);
      const len = area.readUInt32BE(off + 4);
      if (type === 0) break;
      if (type === 0x44415441 /* 'DATA': external data file name */) {
        const name = area.subarray(off + 8, Math.min(area.length, off + 8 + len)).toString('utf8');
        refs.push({ kind: 'external data file', path: printable(name) || '(unnamed)' });
      }
      off += 8 + Math.ceil(len / 8) * 8;
    }
  }
  if (externalData && !refs.some((r) => r.kind === 'external data file')) {
    refs.push({ kind: 'external data file', path: '(unnamed)' });
  }
  return refs;
}

/**
 * Every name qemu could take as the parent from a descriptor span: at each occurrence of `parentFileNameHint`, the
 * text starting two characters after it (qemu skips `="` without looking) up to the next `"`. Without a closing
 * quote qemu fails the open; the rest of the span is reported anyway.
 */
export function vmdkParentHints(span: string): string[] {
  const key = 'parentFileNameHint';
  const names: string[] = [];
  for (let at = span.indexOf(key); at >= 0; at = span.indexOf(key, at + 1)) {
    const start = at + key.length + 2;
    if (start > span.length) continue;
    const end = span.indexOf('"', start);
    const name = span.slice(start, end < 0 ? span.length : end);
    if (name !== '') names.push(name);
  }
  return names;
}

/** C isspace() in the "C" locale. */
function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
}

/**
 * One extent line as qemu's sscanf reads it from a line start (it may run across line breaks: every blank in the
 * format skips any white space). Returns the fields matched, like sscanf's count.
 */
function scanExtent(s: string, p: number): { matches: number; access: string; sectors: number; type: string; file: string; offset: number } {
  const r = { matches: 0, access: '', sectors: 0, type: '', file: '', offset: -1 };
  const skipWs = () => {
    while (p < s.length && isSpace(s[p])) p++;
  };
  const word = (max: number): string | null => {
    skipWs();
    const start = p;
    while (p < s.length && p - start < max && !isSpace(s[p])) p++;
    return p > start ? s.slice(start, p) : null;
  };
  const int = (): number | null => {
    skipWs();
    const m = /^[+-]?\d+/.exec(s.slice(p, p + 64));
    if (!m) return null;
    p += m[0].length;
    return Number(m[0]);
  };
  const access = word(10);
  if (access === null) return r;
  r.access = access;
  r.matches = 1;
  const sectors = int();
  if (sectors === null) return r;
  r.sectors = sectors;
  r.matches = 2;
  const type = word(10);
  if (type === null) return r;
  r.type = type;
  r.matches = 3;
  skipWs();
  if (s[p] !== '"') return r;
  p++;
  const start = p;
  while (p < s.length && p - start < 511 && s[p] !== '\n' && s[p] !== '\r' && s[p] !== '"') p++;
  if (p === start) return r;
  r.file = s.slice(start, p);
  r.matches = 4;
  if (s[p] !== '"') return r;
  p++;
  const offset = int();
  if (offset !== null) {
    r.offset = offset;
    r.matches = 5;
  }
  return r;
}

/** The extent files qemu would open from a descriptor (vmdk_parse_extents): RW lines of a file-backed type. */
export function vmdkExtentFiles(desc: string): string[] {
  const files: string[] = [];
  for (let p = 0; p < desc.length; ) {
    const e = scanExtent(desc, p);
    if (e.matches >= 4 && e.access === 'RW' && ['FLAT', 'SPARSE', 'VMFS', 'VMFSSPARSE', 'SESPARSE'].includes(e.type)) {
      files.push(e.file);
    }
    const nl = desc.indexOf('\n', p);
    if (nl < 0) break;
    p = nl + 1;
  }
  return files;
}

/** Parent CID as qemu reads it: first `parentCID`, skip it and one character, then hex digits. */
function vmdkParentCid(span: string): number | null {
  const at = span.indexOf('parentCID');
  if (at < 0) return null;
  const m = /^\s*(?:0[xX])?([0-9a-fA-F]+)/.exec(span.slice(at + 10, at + 10 + 64));
  return m ? parseInt(m[1]!.slice(-8), 16) : null;
}

/**
 * References of a VMDK, read the way qemu's vmdk driver opens it:
 * - `KDMV`/`COWD` sparse file: parent hint in the 10240 bytes at 0x200; and if a KDMV header says capacity 0 with a
 *   descriptor offset, qemu parses the descriptor there as a text descriptor (extents = other files).
 * - anything else: a text descriptor (all data in extent files).
 */
export function vmdkRefs(head: Buffer, readDesc: (offset: number, len: number) => Buffer): HostReference[] {
  const magic = head.subarray(0, 4).toString('latin1');
  const refs: HostReference[] = [];
  const parentSpan = (span: string) => {
    for (const name of vmdkParentHints(span)) refs.push({ kind: 'parent', path: printable(name) });
    const cid = vmdkParentCid(span);
    if (cid !== null && cid !== 0xffffffff && !refs.some((r) => r.kind === 'parent')) {
      refs.push({ kind: 'parent', path: '(unnamed parent disk: parentCID is set)' });
    }
  };
  const descriptor = (desc: string, where: string) => {
    const files = vmdkExtentFiles(desc);
    for (const f of files) refs.push({ kind: 'extent file', path: printable(f) });
    if (files.length === 0) refs.push({ kind: 'descriptor', path: `(${where}: a VMDK descriptor keeps its data in files outside it)` });
  };
  if (magic === 'KDMV' || magic === 'COWD') {
    if (magic === 'KDMV' && head.length >= 36 && head.readBigUInt64LE(12) === 0n) {
      const descOffset = head.readBigUInt64LE(28);
      if (descOffset !== 0n) {
        descriptor(cString(readDesc(Number(descOffset) * 512, VMDK_DESC_MAX)), 'the descriptor a capacity-0 sparse header points at');
      }
    }
    parentSpan(cString(readDesc(0x200, VMDK_DESC_SPAN)));
    return refs;
  }
  const text = cString(readDesc(0, VMDK_DESC_MAX));
  descriptor(text, 'a text descriptor');
  parentSpan(text.slice(0, VMDK_DESC_SPAN));
  return refs;
}

async function vhdRefs(fh: fsp.FileHandle, size: number): Promise<HostReference[]> {
  // qemu reads the footer copy at offset 0, or the footer in the last 512 bytes when 0 holds none.
  let footer = await readAt(fh, 0, 512);
  if (footer.subarray(0, 8).toString('latin1') !== 'conectix') footer = await readAt(fh, Math.max(0, size - 512), 512);
  if (footer.length < 64 || footer.subarray(0, 8).toString('latin1') !== 'conectix') return [];
  if (footer.readUInt32BE(60) !== 4) return [];
  // Differencing disk: the dynamic header (at data offset) has the parent's Unicode name at 64 (UTF-16BE, 512 bytes).
  const dynOff = Number(footer.readBigUInt64BE(16));
  const dyn = dynOff < size ? await readAt(fh, dynOff, 1024) : Buffer.alloc(0);
  let name = '(unnamed parent disk)';
  if (dyn.length >= 576 && dyn.subarray(0, 8).toString('latin1') === 'cxsparse') {
    const s = Buffer.from(dyn.subarray(64, 576)).swap16().toString('utf16le').replace(/\0.*$/s, '');
    if (s) name = printable(s);
  }
  return [{ kind: 'parent', path: `${name} (a differencing VHD)` }];
}

/** A GUID as stored on disk (first three fields little-endian). */
function guid(s: string): Buffer {
  const h = s.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}
const VHDX_METADATA_REGION = guid('8B7CA206-4790-4B9A-B8FE-575F050F886E');
const VHDX_FILE_PARAMETERS = guid('CAA16737-FA36-4D43-B3B6-33F0AA44E76B');
const VHDX_PARENT_LOCATOR = guid('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C');

/**
 * A VHDX differencing disk: file parameters with HasParent (bit 1), or a parent locator metadata item. Both region
 * tables (192 KiB, 256 KiB) are looked at; a region table that does not parse names nothing (qemu refuses it too).
 */
async function vhdxRefs(fh: fsp.FileHandle, size: number): Promise<HostReference[]> {
  for (const rt of [192 * 1024, 256 * 1024]) {
    const table = await readAt(fh, rt, 64 * 1024);
    if (table.length < 16 || table.subarray(0, 4).toString('latin1') !== 'regi') continue;
    const count = Math.min(table.readUInt32LE(8), 2047);
    for (let i = 0; i < count && 16 + (i + 1) * 32 <= table.length; i++) {
      const e = table.subarray(16 + i * 32, 16 + (i + 1) * 32);
      if (!e.subarray(0, 16).equals(VHDX_METADATA_REGION)) continue;
      const mdOff = Number(e.readBigUInt64LE(16));
      if (mdOff >= size) continue;
      const md = await readAt(fh, mdOff, 64 * 1024);
      if (md.length < 32 || md.subarray(0, 8).toString('latin1') !== 'metadata') continue;
      const entries = Math.min(md.readUInt16LE(10), 2047);
      for (let j = 0; j < entries && 32 + (j + 1) * 32 <= md.length; j++) {
        const m = md.subarray(32 + j * 32, 32 + (j + 1) * 32);
        const id = m.subarray(0, 16);
        if (id.equals(VHDX_PARENT_LOCATOR)) return [{ kind: 'parent', path: '(a differencing VHDX: parent locator)' }];
        if (id.equals(VHDX_FILE_PARAMETERS)) {
          const params = await readAt(fh, mdOff + m.readUInt32LE(16), 8);
          if (params.length === 8 && (params.readUInt32LE(4) & 2) !== 0) {
            return [{ kind: 'parent', path: '(a differencing VHDX: HasParent set)' }];
          }
        }
      }
    }
  }
  return [];
}

/** A VDI differencing image (type 4) reads its unallocated blocks from a parent image. */
async function vdiRefs(fh: fsp.FileHandle): Promise<HostReference[]> {
  const h = await readAt(fh, 0, 0x50);
  if (h.length < 0x50 || h.readUInt32LE(0x40) !== 0xbeda107f) return [];
  const type = h.readUInt32LE(0x4c);
  if (type === 1 || type === 2) return [];
  return [{ kind: 'parent', path: `(a VDI of type ${type}${type === 4 ? ': differencing' : ''}; its data is in a parent image)` }];
}

/** Every host file the image would make qemu open (or read its data from), as stored in the image. */
export async function hostReferences(file: string, container: Container): Promise<HostReference[]> {
  if (container === 'raw') return [];
  const fh = await fsp.open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    if (container === 'qcow2') return await qcow2Refs(fh);
    if (container === 'vpc') return await vhdRefs(fh, size);
    if (container === 'vhdx') return await vhdxRefs(fh, size);
    if (container === 'vdi') return await vdiRefs(fh);
    // vmdk: the descriptor spans qemu reads are at most 1 MiB; read them up front (synchronously afterwards).
    const spans = new Map<string, Buffer>();
    const head = await readAt(fh, 0, 512);
    const want: Array<[number, number]> = [[0x200, VMDK_DESC_SPAN], [0, VMDK_DESC_MAX]];
    if (head.length >= 36 && head.subarray(0, 4).toString('latin1') === 'KDMV') {
      const off = Number(head.readBigUInt64LE(28)) * 512;
      if (off > 0 && off < size) want.push([off, VMDK_DESC_MAX]);
    }
    for (const [off, len] of want) spans.set(`${off}:${len}`, await readAt(fh, off, Math.max(0, Math.min(len, size - off))));
    return vmdkRefs(head, (off, len) => spans.get(`${off}:${len}`) ?? Buffer.alloc(0));
  } finally {
    await fh.close();
  }
}

/** Refuse an image that references host files, unless allowed. The error names the first reference. */
export async function checkBackingFiles(file: string, container: Container, allow: boolean): Promise<HostReference[]> {
  const refs = await hostReferences(file, container);
  if (refs.length > 0 && !allow) {
    const r = refs[0]!;
    // qemu may name one file twice (an empty line before an extent line is read as that line too): counted once.
    const others = new Set(refs.map((x) => `${x.kind}\0${x.path}`)).size - 1;
    const more = others > 0 ? ` (and ${others} more)` : '';
    throw new TargetError(
      `refusing ${container} image with ${/^[aeiou]/.test(r.kind) ? 'an' : 'a'} ${r.kind} on the host: ${r.path}${more}; pass --allow-backing-file to read it`,
    );
  }
  return refs;
}
