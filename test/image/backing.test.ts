import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkBackingFiles, hostReferences, vmdkExtentFiles, vmdkParentHints, vmdkRefs, VMDK_DESC_SPAN } from '../../src/image/backing.js';
import type { Container } from '../../src/image/detect.js';
import { requireTools } from '../helpers/tools.js';

describe('vmdk extents, read the way qemu scans them', () => {
  it('takes signs, line breaks and any spacing sscanf takes', () => {
    expect(vmdkExtentFiles('RW +16384 FLAT "/host/a" 0\n')).toEqual(['/host/a']);
    expect(vmdkExtentFiles('RW 16384\nFLAT\n"/host/b"\n0')).toEqual(['/host/b']);
    expect(vmdkExtentFiles('  \tRW   8\tSPARSE "rel.vmdk"')).toEqual(['rel.vmdk']);
    expect(vmdkExtentFiles('#'.repeat(70000) + '\nRW 8 VMFS "/host/c"\n')).toEqual(['/host/c']);
  });
  it('reads an extent line twice after an empty line, as sscanf does; the refusal names it once', async () => {
    const desc = '# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\n\nRW 2048 FLAT "/etc/passwd" 0\n';
    expect(vmdkExtentFiles(desc)).toEqual(['/etc/passwd', '/etc/passwd']);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hl-vmdk-twice-'));
    try {
      const f = path.join(dir, 'flat.vmdk');
      writeFileSync(f, desc);
      await expect(checkBackingFiles(f, 'vmdk', false)).rejects.toThrow(
        /^refusing vmdk image with an extent file on the host: \/etc\/passwd; pass --allow-backing-file to read it$/,
      );
      writeFileSync(f, `${desc}RW 8 FLAT "/etc/group" 0\n`);
      await expect(checkBackingFiles(f, 'vmdk', false)).rejects.toThrow(/: \/etc\/passwd \(and 1 more\); pass/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('skips what qemu skips: other access modes, ZERO extents, no file name', () => {
    expect(vmdkExtentFiles('RDONLY 8 FLAT "/x" 0\nRW 8 ZERO\nNOACCESS 8 FLAT "/y" 0\nRW 8 FLAT "" 0\n')).toEqual([]);
  });
});

describe('vmdk parent hints, found with a substring search like qemu', () => {
  it('finds the hint in comments and after any two characters', () => {
    expect(vmdkParentHints('# parentFileNameHint="/host/p.vmdk"\n')).toEqual(['/host/p.vmdk']);
    expect(vmdkParentHints('parentFileNameHintXY/host/q"')).toEqual(['/host/q']);
    expect(vmdkParentHints('parentFileNameHint=""\nparentFileNameHint="/r"')).toEqual(['/r']);
    expect(vmdkParentHints('parentFileNameHint="/unterminated')).toEqual(['/unterminated']);
  });
});

describe('vmdkRefs', () => {
  const sparseHead = (capacity: bigint, descSector: bigint) => {
    const h = Buffer.alloc(512);
    h.write('KDMV', 'latin1');
    h.writeBigUInt64LE(capacity, 12);
    h.writeBigUInt64LE(descSector, 28);
    return h;
  };
  it('reads the parent hint of a sparse file at 0x200 even when the header points elsewhere or nowhere', () => {
    const spans = new Map([[0x200, Buffer.from('CID=1\nparentCID=ffffffff\n# parentFileNameHint="/host/base.vmdk"\n')]]);
    const refs = vmdkRefs(sparseHead(2048n, 0n), (off) => spans.get(off) ?? Buffer.alloc(0));
    expect(refs).toEqual([{ kind: 'parent', path: '/host/base.vmdk' }]);
  });
  it('looks no further than qemu: 10240 bytes at 0x200', () => {
    const span = Buffer.alloc(VMDK_DESC_SPAN + 100, 0x20);
    span.write('parentFileNameHint="/far"', VMDK_DESC_SPAN + 10, 'latin1');
    const refs = vmdkRefs(sparseHead(2048n, 1n), (off, len) => (off === 0x200 ? span.subarray(0, len) : Buffer.alloc(0)));
    expect(refs).toEqual([]);
  });
  it('treats a capacity-0 sparse header with a descriptor as a text descriptor', () => {
    const desc = Buffer.from('createType="monolithicFlat"\nRW 8 FLAT "/host/disk" 0\n');
    const refs = vmdkRefs(sparseHead(0n, 4n), (off) => (off === 4 * 512 ? desc : Buffer.from('CID=1\n')));
    expect(refs).toEqual([{ kind: 'extent file', path: '/host/disk' }]);
  });
  it('refuses every text descriptor, even one with no extent qemu would take', () => {
    const refs = vmdkRefs(Buffer.from('# Disk DescriptorFile\n'), () => Buffer.from('# Disk DescriptorFile\nversion=1\n'));
    expect(refs).toHaveLength(1);
    expect(refs[0]!.kind).toBe('descriptor');
  });
  it('reads a set parentCID without a hint as an unnamed parent, and makes control characters visible', () => {
    expect(vmdkRefs(sparseHead(8n, 1n), () => Buffer.from('CID=1\nparentCID=1234abcd\n'))[0]!.kind).toBe('parent');
    const esc = vmdkRefs(sparseHead(8n, 1n), () => Buffer.from('parentFileNameHint="/a\x1b[2Jb"'));
    expect(esc[0]!.path).toBe('/a?[2Jb');
  });
});

describe('images qemu-img makes without a parent', () => {
  requireTools('qemu-img');
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-backing-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  it.each([
    ['vmdk', 'subformat=monolithicSparse'],
    ['vmdk', 'subformat=streamOptimized'],
    ['vpc', 'subformat=dynamic'],
    ['vpc', 'subformat=fixed'],
    ['vhdx', 'subformat=dynamic'],
    ['vdi', 'static=off'],
    ['qcow2', 'compat=1.1'],
  ])('%s %s names no host file', async (fmt, opt) => {
    const f = path.join(tmp, `${fmt}-${opt.replace(/\W/g, '')}.img`);
    execFileSync('qemu-img', ['create', '-q', '-f', fmt, '-o', opt, f, '4M']);
    expect(await hostReferences(f, fmt as Container)).toEqual([]);
  });
  it('a qcow2 with an external data file is refused, and the name is read', async () => {
    const f = path.join(tmp, 'data.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${path.join(tmp, 'data.raw')}`, f, '4M']);
    expect(await hostReferences(f, 'qcow2')).toEqual([{ kind: 'external data file', path: path.join(tmp, 'data.raw') }]);
  });
});
