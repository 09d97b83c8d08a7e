import { baseName, cannotJudge, defineRule, type Accounts } from '../src/engine/kit/index.js';

const SUDOERS = '/etc/sudoers';
const SUDOERS_D = '/etc/sudoers.d';

export interface SudoRule {
  /** The user list as written: `packer`, `%wheel`, `#1000`. */
  who: string[];
  nopasswd: boolean;
  line: number;
  text: string;
}

/**
 * The user specifications of a sudoers file (sudoers(5)): `users hosts = (runas) [tags:] commands`, with `\`
 * continuations and comments. Defaults, aliases and include lines are not user specifications; a `#` followed by a
 * number is a uid, not a comment.
 */
export function sudoRules(text: string): { rules: SudoRule[]; aliases: Set<string> } {
  const rules: SudoRule[] = [];
  const aliases = new Set<string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i]!;
    line = line.replace(/(^|[^\\])#(?!\d).*$/, '$1').trim();
    if (line === '' || /^[@#]include/.test(line) || /^Defaults\b/.test(line)) continue;
    const alias = /^(?:User|Runas|Host|Cmnd|Cmd)_Alias\s+(.*)$/.exec(line);
    if (alias) {
      for (const def of alias[1]!.split(':')) {
        const name = /^\s*([A-Z][A-Z0-9_]*)\s*=/.exec(def)?.[1];
        if (name) aliases.add(name);
      }
      continue;
    }
    const m = /^((?:[^\s,=]+\s*,\s*)*[^\s,=]+)\s+[^=]+=\s*(.*)$/.exec(line);
    if (!m) continue;
    rules.push({ who: m[1]!.split(',').map((w) => w.trim()), nopasswd: /\bNOPASSWD\s*:/.test(m[2]!), line: start + 1, text: line });
  }
  return { rules, aliases };
}

/** Whether a sudoers user-list item names an account or group the image does not have. */
function missing(who: string, accounts: Accounts, aliases: Set<string>): boolean {
  const w = who.replace(/^!+/, '');
  if (w === 'ALL' || aliases.has(w) || w.startsWith('+') || w.startsWith('%:') || w.startsWith('%#')) return false;
  if (w.startsWith('#')) return !accounts.userByUid(Number(w.slice(1)));
  if (w.startsWith('%')) return accounts.groups.length > 0 && !accounts.groups.some((g) => g.name === w.slice(1));
  return !accounts.userByName(w);
}

export default defineRule({
  meta: {
    id: 'sudoers-unknown-account',
    severity: 'warning',
    tags: ['session-residue', 'permissions'],
    description: 'A sudoers rule (/etc/sudoers, /etc/sudoers.d/*) for an account or group the image does not have; NOPASSWD rules at warning, others at info',
    remediation:
      'The build account (packer, vagrant, a CI user) was deleted but its sudo rule was not: whoever later gets an ' +
      'account or group of that name, or that uid, gets root, without a password when the rule says NOPASSWD. Remove ' +
      "the rule together with the account (rm /etc/sudoers.d/<file>; edit /etc/sudoers with visudo) as the build's " +
      'last step.',
    references: ['https://www.sudo.ws/docs/man/sudoers.man/', 'https://developer.hashicorp.com/packer/guides/packer-on-cicd/build-image-in-cicd'],
  },
  async check({ inventory, fs, accounts, report }) {
    const files: string[] = [];
    if (inventory.get(SUDOERS)?.type === 'file') files.push(SUDOERS);
    const d = inventory.resolve(SUDOERS_D);
    if (d.ok && d.entry.type === 'dir') {
      // sudo's @includedir skips names that end in `~` or contain a `.` (editor and package backups).
      for (const name of inventory.children(d.path).sort()) if (!name.endsWith('~') && !name.includes('.')) files.push(`${SUDOERS_D}/${name}`);
    }
    if (files.length === 0) return;
    if (!accounts.known) {
      cannotJudge(report, SUDOERS, 'sudoers accounts', accounts.reason);
      return;
    }
    for (const p of files) {
      const e = inventory.get(p);
      if (!e || e.type !== 'file' || e.size === 0) continue;
      const text = await fs.readText(p, { maxBytes: 1 << 20 });
      if (!text) continue;
      const { rules, aliases } = sudoRules(text);
      const bad = rules.map((r) => ({ r, who: r.who.filter((w) => missing(w, accounts, aliases)) })).filter((x) => x.who.length > 0);
      if (bad.length === 0) continue;
      const who = [...new Set(bad.flatMap((x) => x.who))];
      const nopasswd = bad.some((x) => x.r.nopasswd);
      const first = bad.find((x) => x.r.nopasswd) ?? bad[0]!;
      report({
        path: p,
        severity: nopasswd ? undefined : 'info',
        message:
          `${p} gives sudo${nopasswd ? ' without a password (NOPASSWD)' : ''} to ${who.join(', ')}, which the image does not have ` +
          `(${bad.length === 1 ? `line ${first.r.line}` : `${bad.length} rules, first on line ${first.r.line}`}): a leftover of a deleted build account`,
        evidence: `line ${first.r.line}: ${first.r.text.slice(0, 160)}`,
        key: `${baseName(p)}:${who.slice().sort().join(',')}`,
      });
    }
  },
});
