import { defineRule, globOnce, entriesNamed, plural } from '../src/engine/kit/index.js';

/** A KDC's database and master key stash (MIT krb5 on Debian and Red Hat layouts). */
const KDC = ['/var/lib/krb5kdc/principal*', '/var/kerberos/krb5kdc/principal*', '/etc/krb5kdc/stash', '/etc/krb5kdc/.k5.*', '/var/kerberos/krb5kdc/.k5.*', '/var/lib/krb5kdc/.k5.*'];

/** Keytab files start with 0x05 0x02 (format 2) or 0x05 0x01 (format 1). */
const isKeytab = (d: Buffer) => d.length >= 2 && d[0] === 5 && (d[1] === 1 || d[1] === 2);

export default defineRule({
  meta: {
    id: 'kerberos-keytab',
    severity: 'error',
    tags: ['secret'],
    description: 'A Kerberos keytab (/etc/krb5.keytab, *.keytab) or a KDC database/stash is in the image',
    remediation:
      'A keytab holds the long-term keys of a host or service principal: anyone with the image can act as that ' +
      'host in the realm. Remove it from the image, rotate the principal\'s keys (kadmin ktadd -randkey / ' +
      'ipa-getkeytab), and join each machine to the realm at first boot (virt-sysprep --operations ' +
      'kerberos-hostkeys,kerberos-data).',
    references: ['https://web.mit.edu/kerberos/krb5-latest/doc/basic/keytab_def.html', 'https://libguestfs.org/virt-sysprep.1.html'],
  },
  async check({ inventory, fs, report }) {
    const named = entriesNamed(inventory, (n) => n.endsWith('.keytab')).filter((e) => e.type === 'file' && e.size > 0);
    await Promise.all(
      named.map(async (e) => {
        const r = await fs.readFile(e.path, { maxBytes: 16, cache: false });
        if (!r || !isKeytab(r.data)) return;
        report({ path: e.path, message: `${e.path} is a Kerberos keytab (${plural(e.size, 'byte')}): the long-term keys of a principal`, evidence: `${e.size} bytes, mode ${(e.mode & 0o7777).toString(8).padStart(4, '0')}` });
      }),
    );
    for (const e of globOnce(inventory, KDC)) {
      if (e.type !== 'file' || e.size === 0) continue;
      report({ path: e.path, message: `${e.path} is part of a Kerberos KDC database or its master key stash (${plural(e.size, 'byte')})`, evidence: `${e.size} bytes` });
    }
  },
});
