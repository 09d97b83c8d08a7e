/**
 * The cache's sealed files: one entry is one file holding its JSON payload and an HMAC-SHA256 over the payload and
 * what it is stored for (the context), under a key kept outside the cache directory (src/store/cache.ts says where
 * the key comes from and what the contexts are). An entry whose seal does not verify was not written by a holder of
 * the key: a miss, never trusted.
 *
 * The cache opens nothing it did not make: an entry is opened only when lstat says it is a regular file (then with
 * O_NOFOLLOW, and checked again on the open descriptor), at most MAX_ENTRY_BYTES of it; a FIFO, device, symlink or
 * oversized file in an entry's place is a miss and is replaced by the next write (so nothing blocks and nothing grows).
 * Its folders (paths/, results/, index/, ranges/) must be real folders: a symlink there is an error naming it, never
 * followed. Entries are written 0600 (O_EXCL, under a random name, then renamed), folders made 0700.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { nodeCrypto } from '../lazy.js';
import { UsageError } from '../errors.js';

/** The sealed-file format's version: an entry of another format is a miss. */
const FORMAT = 4;

/** The largest entry read back (a result with tens of thousands of findings is a few MiB). */
export const MAX_ENTRY_BYTES = 64 * 1024 * 1024;

/** A sealed entry on disk: the payload as written (JSON text) and its HMAC. */
interface Sealed {
  format: number;
  payload: string;
  mac: string;
}

function mac(key: Buffer, context: string, payload: string): string {
  return nodeCrypto().createHmac('sha256', key).update(context).update('\0').update(payload).digest('hex');
}

/*
 * Entries are small files, read and written synchronously: an async call per entry waits for the thread pool, which a
 * busy machine makes slow (ten of them per image cost more than the audit of a small one).
 */

/**
 * An entry's text, or null when there is no regular file of at most MAX_ENTRY_BYTES there. lstat first, so a FIFO or
 * a device is never opened (opening either can block or have effects); O_NOFOLLOW and the descriptor's own stat close
 * the race with a swap between the two.
 */
function readEntryText(file: string): string | null {
  try {
    const st = lstatSync(file);
    if (!st.isFile() || st.size > MAX_ENTRY_BYTES) return null;
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const now = fstatSync(fd);
      if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev || now.size > MAX_ENTRY_BYTES) return null;
      const buf = Buffer.alloc(now.size);
      let n = 0;
      while (n < buf.length) {
        const got = readSync(fd, buf, n, buf.length - n, n);
        if (got === 0) break;
        n += got;
      }
      return buf.toString('utf8', 0, n);
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** The payload of a sealed entry whose MAC verifies for this context; null for anything else (a miss). */
export function readSealed<T>(file: string, key: Buffer, context: string): { value: T | null; forged: boolean } {
  let sealed: Sealed;
  try {
    const text = readEntryText(file);
    if (text === null) return { value: null, forged: false };
    sealed = JSON.parse(text) as Sealed;
  } catch {
    return { value: null, forged: false };
  }
  if (!sealed || sealed.format !== FORMAT || typeof sealed.payload !== 'string' || typeof sealed.mac !== 'string') {
    return { value: null, forged: false };
  }
  const want = Buffer.from(mac(key, context, sealed.payload), 'hex');
  const got = Buffer.from(sealed.mac, 'hex');
  if (got.length !== want.length || !nodeCrypto().timingSafeEqual(got, want)) return { value: null, forged: true };
  try {
    return { value: JSON.parse(sealed.payload) as T, forged: false };
  } catch {
    return { value: null, forged: true };
  }
}

/**
 * Make sure a folder of the cache is a real folder (made 0700 when missing): a symlink or anything else in its place
 * is an error naming it, never followed (it would let whoever controls the cache directory choose where entries go).
 * `make`: create it when missing (writes), else leave a missing one alone (the check before any read).
 */
export function ensureCacheDir(dir: string, make = true): void {
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !make) return;
    mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    st = lstatSync(dir);
  }
  if (st.isSymbolicLink()) throw new UsageError(`the cache folder ${dir} is a symlink: hostleak only writes into folders it made; remove it or use another --cache`);
  if (!st.isDirectory()) throw new UsageError(`the cache folder ${dir} is not a folder: remove it or use another --cache`);
}

export function writeSealed(file: string, key: Buffer, context: string, data: unknown): void {
  const dir = path.dirname(file);
  const payload = JSON.stringify(data);
  const sealed = JSON.stringify({ format: FORMAT, payload, mac: mac(key, context, payload) } satisfies Sealed);
  const tmp = `${file}.${process.pid}.${nodeCrypto().randomBytes(8).toString('hex')}.tmp`;
  // O_EXCL: a name someone planted (a symlink included) is never written through.
  const write = () => writeFileSync(tmp, sealed, { mode: 0o600, flag: 'wx' });
  // Checked on every write (one lstat): a folder swapped for a symlink during the run is refused too.
  ensureCacheDir(dir);
  write();
  try {
    // Replaces whatever non-folder is there (a FIFO, a device node, a symlink) without opening it.
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
