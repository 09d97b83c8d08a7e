import { defineRule, globOnce, plural } from '../src/engine/kit/index.js';

/** Login accounting: who logged in (wtmp, utmp, lastlog), who failed to (btmp, faillog), rotated copies included. */
export const LOGIN_RECORDS = [
  '/var/log/wtmp', '/var/log/wtmp.[0-9]*', '/var/log/btmp', '/var/log/btmp.[0-9]*', '/var/log/lastlog', '/var/log/faillog',
  '/var/run/utmp', '/run/utmp', '/var/lib/wtmpdb/wtmp.db', '/var/lib/lastlog/lastlog2.db',
];
/** lastlog and faillog are sparse arrays indexed by uid: look this far for a record. */
const LOOK = 4 * 1024 * 1024;

export default defineRule({
  meta: {
    id: 'login-records',
    severity: 'warning',
    tags: ['session-residue'],
    description: 'Login records of the build (non-empty wtmp, btmp, utmp, lastlog, faillog)',
    remediation:
      'Someone (or something) logged in to the image while it was built: the records name the accounts, terminals ' +
      'and the addresses they came from, and every machine booted from the image starts with that history. ' +
      'Truncate them at the end of the build (: > /var/log/wtmp; : > /var/log/btmp; : > /var/log/lastlog), as ' +
      'virt-sysprep --operations utmp,logfiles does.',
    references: ['https://libguestfs.org/virt-sysprep.1.html', 'https://manpages.debian.org/bookworm/manpages/utmp.5.en.html'],
  },
  async check({ inventory, fs, report }) {
    const files = globOnce(inventory, LOGIN_RECORDS).filter((e) => e.type === 'file' && e.size > 0);
    await Promise.all(
      files.map(async (e) => {
        const r = await fs.readFile(e.path, { maxBytes: LOOK, cache: false });
        // A placeholder of zeros (lastlog's sparse array with no login in it) records nothing.
        if (!r || !r.data.some((b) => b !== 0)) return;
        report({ path: e.path, message: `${e.path} holds login records from the build (${plural(e.size, 'byte')})`, evidence: `${e.size} bytes` });
      }),
    );
  },
});
