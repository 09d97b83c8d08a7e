/**
 * Compressed tarballs as other tools write them. pzstd (zstd's parallel tool, in the zstd package) puts a skippable
 * frame before every zstd frame: `zstd -dc` reads it like any .zst, and so must hostleak, with the system tool and
 * with its own decoder. lz4, lzop and .lzma are not decompressed: the target fails (exit 3) and the error names the
 * compressor and the command that decompresses it, instead of "unrecognised image format".
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostleak, SAMPLES } from '../helpers/cli.js';
import { requireTools } from '../helpers/tools.js';

requireTools('pzstd', 'zstd', 'xz', 'lz4', 'lzop');

const HOST = ['--host-user', 'bob', '--host-home', '/home/bob', '--host-name', 'bobs-laptop'];
let tmp: string;
let plainTar: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-compressors-'));
  plainTar = path.join(tmp, 'rootfs.tar');
  execFileSync('sh', ['-c', `xz -dc '${path.join(SAMPLES, 'leaky-rootfs.tar.xz')}' > '${plainTar}'`]);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Audit {
  status: number | null;
  stderr: string;
  targets: Array<{ status: string; error: string | null; findings: Array<{ fingerprint: string }> }>;
}

function audit(target: string, env?: NodeJS.ProcessEnv): Audit {
  const r = hostleak(['scan', target, '--format', 'json', ...HOST], env ? { env } : undefined);
  return { status: r.status, stderr: r.stderr, targets: r.stdout ? JSON.parse(r.stdout).targets : [] };
}

/** `tool ARGS < rootfs.tar > out`. */
function compress(out: string, tool: string, ...args: string[]): string {
  const file = path.join(tmp, out);
  execFileSync('sh', ['-c', `${tool} ${args.join(' ')} < '${plainTar}' > '${file}'`]);
  return file;
}

describe('tarballs from other compressors', () => {
  it('pzstd (skippable frames before each frame): the same findings as zstd, with the tool and without it', () => {
    const pz = compress('rootfs.pzstd.tar.zst', 'pzstd', '-q', '-c', '-p', '2');
    // pzstd's own framing: a skippable frame first, not the zstd magic.
    expect(execFileSync('head', ['-c', '4', pz]).readUInt32LE(0)).toBe(0x184d2a50);
    const reference = audit(compress('rootfs.tar.zst', 'zstd', '-q', '-c'));
    expect(reference.status).toBe(1);
    expect(reference.targets[0]!.findings.length).toBeGreaterThan(10);
    const want = reference.targets[0]!.findings.map((f) => f.fingerprint);

    const withTool = audit(pz);
    expect(withTool.status).toBe(1);
    expect(withTool.targets.map((t) => t.status)).toEqual(['ok']);
    expect(withTool.targets[0]!.findings.map((f) => f.fingerprint)).toEqual(want);

    // Node and a shell only: fzstd decodes it.
    const bare = path.join(tmp, 'bin');
    mkdirSync(bare, { recursive: true });
    spawnSync('ln', ['-sf', process.execPath, path.join(bare, 'node')]);
    symlinkSync('/bin/sh', path.join(bare, 'sh'));
    const own = audit(pz, { PATH: bare });
    expect(own.stderr).toBe('');
    expect(own.status).toBe(1);
    expect(own.targets[0]!.findings.map((f) => f.fingerprint)).toEqual(want);
  });

  it.each([
    ['lz4', () => compress('rootfs.tar.lz4', 'lz4', '-q', '-c'), 'lz4 -dc'],
    ['lz4 after a skippable frame', () => compress('rootfs.tar.lz4', 'sh -c', `"printf 'P*M\\030\\004\\0\\0\\0abcd'; lz4 -q -c"`), 'lz4 -dc'],
    ['lzop', () => compress('rootfs.tar.lzo', 'lzop', '-q', '-c'), 'lzop -dc'],
    ['lzma', () => compress('rootfs.tar.lzma', 'xz', '--format=lzma', '-c'), 'xz -dc'],
  ])('%s: exit 3, the compressor and its command named', (what, make, command) => {
    const r = audit(make());
    expect(r.status).toBe(3);
    expect(r.targets.map((t) => t.status)).toEqual(['failed']);
    const name = what.split(' ')[0];
    expect(r.targets[0]!.error).toBe(`${name}-compressed, which hostleak does not decompress: decompress it first (\`${command} FILE > OUT\`) and audit that`);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
