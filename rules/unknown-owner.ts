import { forEachEntry, aggregate, cannotJudge, defineRule, plural, type Accounts, type Entry } from '../src/engine/kit/index.js';

const NM = '/node_modules/';

/**
 * The npm package an entry belongs to: the innermost `node_modules/<pkg>` or `node_modules/@scope/pkg` at or above
 * it (npm keeps each package's tarball owners, so the package is the cause), or null. `.bin`, `.package-lock.json`
 * and the scope folder itself are npm's, not a package's.
 */
export function npmPackageOf(p: string): string | null {
  const i = p.lastIndexOf(NM);
  if (i < 0) return null;
  const [first, second] = p.slice(i + NM.length).split('/');
  if (!first || first.startsWith('.')) return null;
  if (first.startsWith('@')) return second ? `${p.slice(0, i + NM.length)}${first}/${second}` : null;
  return p.slice(0, i + NM.length) + first;
}

const ids = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b).join(', ');
const examples = (paths: string[], under: string, n = 3) =>
  paths.slice(0, n).map((p) => p.slice(under.length + 1) || p).join(', ') + (paths.length > n ? `, … (${paths.length - n} more)` : '');

function ownerText(accounts: Accounts, checkGroups: boolean, es: Entry[]): string {
  const badUids = es.filter((e) => !accounts.userByUid(e.uid)).map((e) => e.uid);
  const badGids = checkGroups ? es.filter((e) => !accounts.groupByGid(e.gid)).map((e) => e.gid) : [];
  return [badUids.length ? `uid ${ids(badUids)}` : '', badGids.length ? `gid ${ids(badGids)}` : ''].filter(Boolean).join(', ');
}

export default defineRule({
  meta: {
    id: 'unknown-owner',
    severity: 'warning',
    tags: ['ownership', 'host-leak'],
    description:
      'Entries owned by a uid or gid with no account or group in the image: one finding per cause (an npm package, a copied tree, a folder)',
    remediation:
      'Copied trees keep the ownership of where they came from (the builder\'s uid 1000, a nixbld uid, a CI user): copy ' +
      'with --no-preserve=ownership / tar --owner=0 --group=0, or chown them to an account the image defines. npm ' +
      'packages installed globally as root keep the uids of their tarballs: chown -R 0:0 the global node_modules in ' +
      'the same step (or install with an npm that extracts as root, npm 10 and later).',
    references: ['https://libguestfs.org/virt-sysprep.1.html', 'https://docs.npmjs.com/cli/v9/commands/npm-install'],
  },
  async check({ inventory, accounts, report }) {
    if (!accounts.known) {
      cannotJudge(report, '/', 'file owners', accounts.reason);
      return;
    }
    const checkGroups = accounts.groups.length > 0;
    const flagged = new Map<string, Entry>();
    const npm = new Map<string, Entry[]>();
    const keep = (e: Entry) => {
      const pkg = npmPackageOf(e.path);
      if (pkg) {
        let list = npm.get(pkg);
        if (!list) npm.set(pkg, (list = []));
        list.push(e);
      } else flagged.set(e.path, e);
    };
    const unknown = (uid: number, gid: number) => !accounts.userByUid(uid) || (checkGroups && !accounts.groupByGid(gid));
    const root = inventory.get('/');
    if (root && unknown(root.uid, root.gid)) keep(root);
    // Most entries share a few owners: the last pair's answer is asked again only when the pair changes.
    let lastUid = -1;
    let lastGid = -1;
    let lastUnknown = false;
    await forEachEntry(inventory, '/', (e) => {
      const uid = e.uid;
      const gid = e.gid;
      if (uid !== lastUid || gid !== lastGid) {
        lastUid = uid;
        lastGid = gid;
        lastUnknown = unknown(uid, gid);
      }
      if (lastUnknown) keep(e.entry());
    });
    // One cause, one finding: each npm package (its tarball's owners), each copied tree (its top-most entry), and
    // flagged siblings in one folder together.
    for (const [pkg, es] of npm) {
      const name = pkg.slice(pkg.lastIndexOf(NM) + NM.length);
      const owners = ownerText(accounts, checkGroups, es);
      report({
        path: pkg,
        message:
          `${plural(es.length, 'entry', 'entries')} of the npm package ${name} keep the owners of its tarball (${owners}, ` +
          'no account in the image): npm installed it globally as root and kept them. The first account created with ' +
          'such a uid (1000 is the first user) will own, and can rewrite, code that root runs. Fix: chown -R 0:0 the ' +
          'package after `npm install -g` (or use npm 10+, which extracts as root), or build with tools that normalise ' +
          'ownership.',
        evidence: `${owners}: ${examples(es.map((e) => e.path), pkg)}`,
      });
    }
    for (const g of aggregate(flagged.keys(), 1)) {
      const e = flagged.get(g.path);
      if (g.merged) {
        const members = g.members ?? [];
        const es = members.map((m) => flagged.get(m)!).filter(Boolean);
        report({
          path: g.path,
          message:
            `${plural(g.count, 'entry', 'entries')} in ${g.path} (${plural(members.length, 'tree or file', 'trees or files')}) are owned by ` +
            `${ownerText(accounts, checkGroups, es)}, with no account or group in the image`,
          evidence: `${g.count} entries: ${examples(members, g.path)}`,
        });
        continue;
      }
      const owner = e ? `uid ${e.uid}${accounts.userByUid(e.uid) ? '' : ' (no account)'}, gid ${e.gid}${!checkGroups || accounts.groupByGid(e.gid) ? '' : ' (no group)'}` : '';
      report({
        path: g.path,
        message: `${g.path} is owned by ${owner}` + (g.count > 1 ? `; ${g.count} entries at or below it have unknown owners` : ''),
        evidence: e ? `uid=${e.uid} gid=${e.gid}, ${plural(g.count, 'entry', 'entries')}` : `${g.count} entries`,
      });
    }
  },
});
