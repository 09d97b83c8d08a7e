/** Reading guestfish's output and writing its string-list arguments, for the guestfs backend (guestfs.ts). */
import { quoteArg } from './guestfish.js';

export interface Stat {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
}

/** Parse guestfish's printing of a list of statns structs (`[0] = {`, `  st_mode: 16877`, ..., `}`). */
export function parseStatList(text: string): Stat[] {
  const out: Stat[] = [];
  let cur: Partial<Stat> | null = null;
  for (const line of text.split('\n')) {
    if (line.endsWith('{')) {
      cur = {};
      continue;
    }
    if (line === '}' || line.startsWith('}')) {
      if (cur) out.push(cur as Stat);
      cur = null;
      continue;
    }
    if (!cur) continue;
    const i = line.indexOf(': ');
    if (i < 0) continue;
    const key = line.slice(0, i).trim();
    const v = Number(line.slice(i + 2));
    switch (key) {
      case 'st_ino':
        cur.ino = v;
        break;
      case 'st_mode':
        cur.mode = v;
        break;
      case 'st_uid':
        cur.uid = v;
        break;
      case 'st_gid':
        cur.gid = v;
        break;
      case 'st_size':
        cur.size = v;
        break;
      case 'st_mtime_sec':
        cur.mtime = v;
        break;
    }
  }
  return out;
}

/** Single-statns output (no list brackets) is the same fields without `[i] = {`. */
export function parseOneStat(text: string): Stat {
  return parseStatList(`[0] = {\n${text}\n}`)[0]!;
}

export function isListSafe(b: Buffer): boolean {
  if (b.length === 0) return false;
  for (const c of b) if (c === 0x27 || c === 0x5c || c < 0x20) return false;
  return true;
}

/** Chunks of names whose quoted string list stays under the line limit. */
export function chunkNames(names: Buffer[], budget: number): Buffer[][] {
  const chunks: Buffer[][] = [];
  let cur: Buffer[] = [];
  let len = 0;
  for (const n of names) {
    let cost = 3;
    for (const c of n) cost += c >= 0x7f ? 4 : c === 0x22 ? 2 : 1;
    if (cur.length > 0 && len + cost > budget) {
      chunks.push(cur);
      cur = [];
      len = 0;
    }
    cur.push(n);
    len += cost;
  }
  if (cur.length > 0) chunks.push(cur);
  return chunks;
}

export function listArg(names: Buffer[]): string {
  const parts: Buffer[] = [];
  names.forEach((n, i) => {
    if (i > 0) parts.push(Buffer.from(' '));
    parts.push(Buffer.from("'"), n, Buffer.from("'"));
  });
  return quoteArg(Buffer.concat(parts));
}


/**
 * Parse guestfish's printing of `btrfs-subvolume-list` on a filesystem mounted at its top level: each subvolume's id
 * and its path from the top level (`root`, `@/.snapshots/1/snapshot`), as `/root`. A subvolume deleted but not yet
 * cleaned up (`<FS_TREE>/...`) is left out.
 */
export function parseSubvolumeList(text: string): Array<{ id: number; path: string }> {
  const out: Array<{ id: number; path: string }> = [];
  let id: number | null = null;
  for (const line of text.split('\n')) {
    const m = /^\s*btrfssubvolume_(id|path): (.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === 'id') id = Number(m[2]);
    else if (id !== null && Number.isSafeInteger(id) && !m[2]!.startsWith('<FS_TREE>')) {
      out.push({ id, path: `/${m[2]!}` });
      id = null;
    }
  }
  return out;
}
