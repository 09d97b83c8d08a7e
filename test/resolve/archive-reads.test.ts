/**
 * How often an audit decompresses a compressed rootfs tarball: the listing pass keeps what the rules will read
 * (OpenOptions.expectedRead), so with room for it the archive is decompressed once; with almost no room, the content
 * pass still reads forward in archive order and the number of passes stays small. Either way the findings are the
 * same as the folder's, a token in the last member included. The count comes from the `--verbose` line the tar
 * reader prints (passes over the decompressed stream, the listing included).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FAKE_GITHUB_TOKEN } from '../helpers/fake-secrets.js';
import { hostleak, json } from '../helpers/cli.js';

interface Report {
  targets: Array<{ status: string; findings: Array<{ ruleId: string; path: string; severity: string }> }>;
}

let tmp: string;
let root: string;
let archive: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-archive-reads-'));
  root = path.join(tmp, 'root');
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n');
  writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\nalice:x:1000:\n');
  writeFileSync(path.join(root, 'etc', 'hostname'), 'box\n');
  mkdirSync(path.join(root, 'usr', 'bin'), { recursive: true });
  // 400 text files of 6 KiB (2.3 MiB the content pass reads), different enough that gzip keeps some of their size.
  for (let i = 0; i < 400; i++) {
    const dir = path.join(root, 'usr', 'share', 'doc', `pkg${String(i).padStart(3, '0')}`);
    mkdirSync(dir, { recursive: true });
    const line = (k: number) => `package ${i} line ${k}: ${((i * 7919 + k * 104729) % 1000003).toString(36).repeat(4)}\n`;
    writeFileSync(path.join(dir, 'README'), Array.from({ length: 120 }, (_, k) => line(k)).join(''));
  }
  // Last in name order, so last in the archive: a token the audit must still find.
  mkdirSync(path.join(root, 'var', 'lib', 'zz'), { recursive: true });
  writeFileSync(path.join(root, 'var', 'lib', 'zz', 'settings.conf'), `github_token = ${FAKE_GITHUB_TOKEN}\n`);
  archive = path.join(tmp, 'root.tar.gz');
  execFileSync('sh', ['-c', 'tar --sort=name --owner=0 --group=0 --numeric-owner -C "$0" -cf - . | gzip -c > "$1"', root, archive]);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function audit(target: string, env: NodeJS.ProcessEnv = {}) {
  const r = hostleak(['scan', '--verbose', '--format', 'json', target], { env });
  expect([0, 1]).toContain(r.status);
  const t = json<Report>(r).targets[0]!;
  const findings = t.findings.map((f) => `${f.severity} ${f.ruleId} ${f.path}`).sort();
  const m = /passes over the decompressed stream \(the listing included\): (\d+)/.exec(r.stderr);
  return { status: t.status, findings, passes: m ? Number(m[1]) : null, stderr: r.stderr };
}

describe('reads of a compressed rootfs tarball', () => {
  it('with room for what the rules read, the archive is decompressed once, with the folder\'s findings', () => {
    const folder = audit(root);
    const tarball = audit(archive);
    expect(tarball.status).toBe('ok');
    expect(tarball.findings).toEqual(folder.findings);
    expect(tarball.findings).toContain('error secret-token /var/lib/zz/settings.conf');
    expect(tarball.passes).toBe(1);
  });

  it('with 64 KiB of room, a few passes serve every read, and nothing is left out', () => {
    const folder = audit(root);
    const tight = audit(archive, { HOSTLEAK_TAR_MEMORY: String(64 * 1024) });
    expect(tight.status).toBe('ok');
    expect(tight.findings).toEqual(folder.findings);
    expect(tight.findings).toContain('error secret-token /var/lib/zz/settings.conf');
    // The listing, and the content pass reading forward in archive order: not one pass per batch of reads (this
    // archive's 400 files went in 2 batches of the content pass alone, more with the other rules' reads).
    expect(tight.passes).not.toBeNull();
    expect(tight.passes!).toBeLessThanOrEqual(3);
  });
});
