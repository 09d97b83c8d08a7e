import { baseName, defineRule, joinPath, plural } from '../src/engine/kit/index.js';

/** cloud-init's logs (build-log leaves them to this rule). */
export const CLOUD_INIT_LOGS = ['/var/log/cloud-init.log', '/var/log/cloud-init-output.log'];
/** What `cloud-init clean` removes besides the logs: per-instance state, semaphores, cached datasource data. */
const STATE = ['/var/lib/cloud/instance', '/var/lib/cloud/instances', '/var/lib/cloud/data', '/var/lib/cloud/sem', '/var/lib/cloud/handlers'];

export default defineRule({
  meta: {
    id: 'cloud-init-state',
    severity: 'warning',
    tags: ['instance-identity', 'session-residue'],
    description: 'cloud-init ran while the image was built and left its instance state (/var/lib/cloud/instances, sem, data) or logs',
    remediation:
      'cloud-init keys its work on the instance id: with the build VM\'s instance already recorded as done, clones ' +
      'that happen to get the same id skip their own first-boot setup, and the cached datasource (user-data!) of the ' +
      'build VM ships with the image. Run `cloud-init clean --logs` as the last build step.',
    references: ['https://cloudinit.readthedocs.io/en/latest/reference/cli.html#clean', 'https://libguestfs.org/virt-sysprep.1.html'],
  },
  check({ inventory, report }) {
    for (const p of STATE) {
      const e = inventory.get(p);
      if (!e) continue;
      if (e.type === 'symlink') {
        report({ path: p, message: `${p} -> ${e.target} marks the build VM's instance as the current one`, evidence: e.target ?? '' });
        continue;
      }
      if (e.type !== 'dir') continue;
      const kids = inventory.children(p);
      const below = inventory.count(p); // every entry strictly below p
      if (kids.length === 0) continue;
      report({
        path: p,
        message:
          p.endsWith('/instances')
            ? `${p} holds the state of ${plural(kids.length, 'instance')} cloud-init set up during the build (${plural(below, 'entry', 'entries')})`
            : `${p} holds cloud-init state from the build (${plural(below, 'entry', 'entries')})`,
        evidence: kids.slice(0, 3).map((k) => baseName(joinPath(p, k))).join(', '),
      });
    }
    for (const p of CLOUD_INIT_LOGS) {
      const e = inventory.get(p);
      if (e?.type === 'file' && e.size > 0) report({ path: p, message: `${p} is cloud-init's log of the build (${plural(e.size, 'byte')})`, evidence: `${e.size} bytes` });
    }
  },
});
