import { baseName, defineRule, type Entry, globOnce, judgeShipped, plural } from '../src/engine/kit/index.js';

/** User crontabs and at jobs (Debian, Red Hat, SUSE, Alpine/busybox layouts) and local mailboxes. */
const SPOOLS: Array<{ globs: string[]; what: (name: string) => string }> = [
  {
    globs: ['/var/spool/cron/crontabs/*', '/var/spool/cron/tabs/*', '/var/spool/cron/*', '/etc/crontabs/*'],
    what: (n) => `the crontab of user ${n}`,
  },
  { globs: ['/var/spool/cron/atjobs/*', '/var/spool/at/*', '/var/spool/atjobs/*'], what: (n) => `the at job ${n}` },
  { globs: ['/var/mail/*', '/var/spool/mail/*'], what: (n) => `the mailbox of ${n}` },
];
/** Bookkeeping files of the spools, not jobs or mail. */
const SKIP = /^(?:\.SEQ|\.lock.*|lock|.*\.lock|\.placeholder|\.keep.*)$/;

export default defineRule({
  meta: {
    id: 'spool-leftover',
    severity: 'warning',
    tags: ['session-residue'],
    description: 'User crontabs, at jobs or local mail left in the spools (/var/spool/cron, /var/spool/at, /var/mail)',
    remediation:
      'A crontab or at job edited during the build, or mail delivered to a local account (cron output, package ' +
      'notices), was kept: jobs run on every machine booted from the image, mail describes the build. Ship ' +
      'scheduled jobs as packaged files (/etc/cron.d, systemd timers) and empty the spools at the end of the build ' +
      '(virt-sysprep --operations cron-spool,mail-spool).',
    references: ['https://libguestfs.org/virt-sysprep.1.html'],
  },
  async check({ inventory, packages, report }) {
    const seen = new Map<string, { e: Entry; what: string }>();
    for (const s of SPOOLS) {
      for (const e of globOnce(inventory, s.globs)) {
        const name = baseName(e.path);
        if (e.type !== 'file' || e.size === 0 || SKIP.test(name) || seen.has(e.path)) continue;
        seen.set(e.path, { e, what: s.what(name) });
      }
    }
    await Promise.all(
      [...seen.values()].map(async ({ e, what }) => {
        // Alpine's busybox ships root's default crontab in /etc/crontabs: the distribution's, info.
        const j = await judgeShipped(packages, e.path);
        report({ path: e.path, severity: j.severity, message: `${e.path} is ${what} (${plural(e.size, 'byte')})${j.severity ? '' : ', left by the build'}${j.suffix}`, evidence: `${e.size} bytes, owner uid=${e.uid}` });
      }),
    );
  },
});
