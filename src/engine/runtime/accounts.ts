/** The image's own accounts, parsed once from its /etc/passwd and /etc/group (symlinks followed inside the image). */
import { normalizePath } from '../../inventory.js';
import type { Accounts, Group, ImageFs, User } from '../kit/image.js';
export type { Accounts, Group, User } from '../kit/image.js';

export const MAX_ACCOUNT_FILE = 4 * 1024 * 1024;
/** The account files loadAccounts reads (up to MAX_ACCOUNT_FILE each). */
export const PASSWD = '/etc/passwd';
export const GROUP = '/etc/group';

export function parsePasswd(text: string): User[] {
  const users: User[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const f = line.split(':');
    if (f.length < 7) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!f[0] || !Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    users.push({ name: f[0], uid, gid, home: f[5] ? normalizePath(f[5]) : '/', shell: f[6] ?? '' });
  }
  return users;
}

export function parseGroup(text: string): Group[] {
  const groups: Group[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = Number(f[2]);
    if (!f[0] || !Number.isInteger(gid)) continue;
    groups.push({ name: f[0], gid, members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return groups;
}

export function makeAccounts(users: User[] | null, groups: Group[], reason: string | null = null): Accounts {
  const list = users ?? [];
  const byName = new Map(list.map((u) => [u.name, u] as const));
  const byUid = new Map<number, User>();
  for (const u of list) if (!byUid.has(u.uid)) byUid.set(u.uid, u);
  const byGid = new Map<number, Group>();
  for (const g of groups) if (!byGid.has(g.gid)) byGid.set(g.gid, g);
  return {
    known: users !== null,
    reason: users === null ? reason ?? 'the image has no readable /etc/passwd' : null,
    users: list,
    groups,
    userByName: (n) => byName.get(n),
    userByUid: (uid) => byUid.get(uid),
    groupByGid: (gid) => byGid.get(gid),
    usersWithHome: (p) => list.filter((u) => u.home === p),
  };
}

export async function loadAccounts(fs: ImageFs): Promise<Accounts> {
  const [passwd, group] = await Promise.all([
    fs.readText(PASSWD, { maxBytes: MAX_ACCOUNT_FILE }),
    fs.readText(GROUP, { maxBytes: MAX_ACCOUNT_FILE }),
  ]);
  if (passwd === null) return makeAccounts(null, group ? parseGroup(group) : []);
  const users = parsePasswd(passwd);
  if (users.length === 0) return makeAccounts(null, [], 'the image\'s /etc/passwd lists no account');
  return makeAccounts(users, group ? parseGroup(group) : []);
}
