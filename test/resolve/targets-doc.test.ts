/**
 * docs/targets.md stays true: every table row that names a sample is audited through the built CLI and must report
 * the backend the row names and find the leaky sample's leaks.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { hostleak, json, REPO, SAMPLES } from '../helpers/cli.js';
import type { Report } from '../../src/types.js';

interface Row {
  variant: string;
  backend: string;
  sample: string;
}

function rows(): Row[] {
  const text = readFileSync(path.join(REPO, 'docs/targets.md'), 'utf8');
  const section = text.slice(text.indexOf('## `nixos-rebuild build-image` variants'), text.indexOf('## Container images'));
  const out: Row[] = [];
  for (const line of section.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| Variant') || line.startsWith('|---')) continue;
    const cells = line.slice(1, -1).split('|').map((c) => c.trim());
    out.push({ variant: cells[0]!, backend: cells[4]!, sample: cells[5]!.replace(/`/g, '') });
  }
  return out;
}

const table = rows();

describe('docs/targets.md', () => {
  it('lists the build-image variants, each with a sample or a stated exit 3', () => {
    const variants = table.map((r) => r.variant).join(' ');
    for (const v of ['raw-efi', 'qemu', 'digital-ocean', 'amazon', 'azure', 'hyperv', 'vmware', 'virtualbox', 'google-compute', 'sd-card', 'lxc', 'iso-installer', 'proxmox', 'kexec']) {
      expect(variants).toContain(`\`${v}\``);
    }
    for (const r of table) expect(r.sample !== '' || r.backend === '—').toBe(true);
  });

  for (const r of table.filter((x) => x.sample)) {
    it(`${r.variant}: ${r.sample} is read by the ${r.backend} backend and finds the leaks`, () => {
      const res = hostleak(['scan', r.sample, '--format', 'json'], { cwd: SAMPLES });
      expect(res.status).toBe(1);
      const t = json<Report>(res).targets[0]!;
      expect([t.status, t.backend]).toEqual(['ok', r.backend]);
      const ids = new Set(t.findings.map((f) => f.ruleId));
      // The ISO carries the sample's store only; everything else carries the whole tree.
      const want = r.sample === 'leaky-installer.iso' ? ['setuid-in-store'] : ['orphaned-home', 'root-owned-nix-defexpr', 'dangling-channel-symlink'];
      for (const id of want) expect(ids).toContain(id);
    });
  }
});
