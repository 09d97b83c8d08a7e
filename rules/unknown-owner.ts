import { forEachEntry, aggregate, cannotJudge, defineRule, type Entry } from '../src/engine/kit/index.js';

export default defineRule({
  meta: {
    id: 'unknown-owner',
    severity: 'warning',
    tags: ['ownership', 'host-leak'],
    description: 'Entries owned by a uid or gid with no account or group in the image (aggregated per subtree)',
    remediation:
      "The files kept the builder's ownership (its uid 1000, a nixbld uid, a CI user) because they were copied " +
      'with owners preserved. Copy with --no-preserve=ownership / tar --owner=0 --group=0, or chown them to an ' +
      'account the image defines.',
    references: ['https://libguestfs.org/virt-sysprep.1.html'],
  },
  async check({ inventory, accounts, report }) {
    if (!accounts.known) {
      cannotJudge(report, '/', 'file owners', accounts.reason);
      return;
    }
    const checkGroups = accounts.groups.length > 0;
    const flagged = new Map<string, Entry>();
    const judge = (e: Entry) => {
      const badUid = !accounts.userByUid(e.uid);
      const badGid = checkGroups && !accounts.groupByGid(e.gid);
      if (badUid || badGid) flagged.set(e.path, e);
    };
    const root = inventory.get('/');
    if (root) judge(root);
    await forEachEntry(inventory, '/', judge);
    for (const g of aggregate(flagged.keys())) {
      const e = flagged.get(g.path);
      const owner = e ? `uid ${e.uid}${accounts.userByUid(e.uid) ? '' : ' (no account)'}, gid ${e.gid}${!checkGroups || accounts.groupByGid(e.gid) ? '' : ' (no group)'}` : null;
      report({
        path: g.path,
        message: g.merged
          ? `${g.count} entries below ${g.path} are owned by uids/gids with no account or group in the image`
          : `${g.path} is owned by ${owner}` + (g.count > 1 ? `; ${g.count} entries at or below it have unknown owners` : ''),
        evidence: g.merged || !e ? `${g.count} entries` : `uid=${e.uid} gid=${e.gid}, ${g.count} entr${g.count === 1 ? 'y' : 'ies'}`,
      });
    }
  },
});
