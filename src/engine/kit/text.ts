/**
 * Content scanning shared by the rules that look inside files (build paths, host identity, tokens, private keys).
 *
 * Cost model: on a 150k-entry image we never read every file for every rule. Candidates are chosen from the
 * inventory alone (regular files, non-empty, under a size limit, outside /nix/store and the run-time trees unless
 * asked, not an obviously binary or compressed type), and all rules that scan the same candidates share ONE pass:
 * each such rule declares `readsText` (which gives it the pass's options) and calls `ctx.scanText`. The pass itself
 * runs in the runtime (src/engine/runtime/textpass.ts).
 */
import type { Inventory } from '../../inventory.js';
import type { Entry, RuleOptionSpec } from '../../types.js';
import { isRuntimePath } from './homes.js';
import { DEFAULT_TEXT_MAX_BYTES, isStorePath, type PackageDb } from './image.js';
export { DEFAULT_TEXT_MAX_BYTES, isStorePath } from './image.js';

/** Bytes looked at to decide whether a file is binary. */
const SNIFF_BYTES = 8192;

/** Extensions that are never text: images, archives and packages, compressed data, fonts, compiled code. */
const BINARY_EXTENSIONS = new Set([
  'png', 'jpg', 'jpeg', 'gif', 'ico', 'bmp', 'webp', 'tif', 'tiff', 'woff', 'woff2', 'ttf', 'otf', 'pcf', 'gz',
  'xz', 'bz2', 'zst', 'lz4', 'lzma', 'zip', 'jar', 'whl', 'tar', 'tgz', '7z', 'so', 'a', 'o', 'ko', 'pyc', 'pyo',
  'mo', 'wasm', 'class', 'cache', 'db', 'sqlite', 'bin', 'efi', 'img', 'iso', 'qcow2', 'journal', 'gpg', 'der',
  // Packages: their payload is compressed (a .deb's data.tar.xz, an rpm's cpio.zst), so a plain scan finds nothing
  // in them; debootstrap alone leaves ~35 MiB of .deb in /var/cache/apt/archives.
  'deb', 'udeb', 'rpm', 'apk', 'snap', 'xpi', 'crx', 'nupkg', 'gem',
]);

export interface TextScanOptions {
  /** Also scan /nix/store (world-readable, huge): off by default. */
  includeStore: boolean;
  maxBytes: number;
  /**
   * Leave out files a package installed with a recorded checksum, outside /etc and not diverted (`--trust-packages`):
   * the package database is taken at its word, unread. Off by default.
   */
  trustPackages: boolean;
}

/** The options that choose which files a content scan reads (part of CONTENT_PASS_OPTIONS). */
export const TEXT_SCAN_OPTIONS = {
  scanStore: {
    type: 'boolean',
    default: false,
    description: 'also read files under /nix/store (world-readable, usually huge); --scan-store sets it for every rule',
  },
  maxTextBytes: {
    type: 'number',
    default: DEFAULT_TEXT_MAX_BYTES,
    min: 1,
    description: 'bytes of each file the content scan reads (a larger file is scanned in its first part)',
  },
} as const satisfies Record<string, RuleOptionSpec>;

/** The option only the shared content pass has (part of CONTENT_PASS_OPTIONS). */
export const TRUST_PACKAGES_OPTION = {
  trustPackages: {
    type: 'boolean',
    default: false,
    description:
      'do not read files a package installed with a recorded checksum (dpkg md5sums, apk, rpm), outside /etc and not ' +
      'diverted: a change made to one after install goes unseen; --trust-packages sets it for every rule',
  },
} as const satisfies Record<string, RuleOptionSpec>;

/**
 * The options of every rule in the shared content pass: `defineRule` adds them to the options of a rule that
 * declares `readsText`, so `--scan-store`, `--trust-packages` and the config reach every rule in the pass alike and
 * they stay in one pass. A rule does not spread them itself.
 */
export const CONTENT_PASS_OPTIONS = { ...TEXT_SCAN_OPTIONS, ...TRUST_PACKAGES_OPTION } as const;

/**
 * Text-scan options from a rule's configuration: `scanStore` (also set by `--scan-store`), `maxTextBytes` and
 * `trustPackages` (also set by `--trust-packages`).
 */
export function textScanOptions(options: Record<string, unknown>): TextScanOptions {
  const includeStore = options.scanStore === true;
  const mb = options.maxTextBytes;
  const maxBytes = typeof mb === 'number' && Number.isFinite(mb) && mb > 0 ? Math.floor(mb) : DEFAULT_TEXT_MAX_BYTES;
  return { includeStore, maxBytes, trustPackages: options.trustPackages === true };
}

/** Files a package installed with a checksum, outside /etc and not diverted: what `trustPackages` leaves unread. */
export function trustedByPackages(db: PackageDb, path: string): boolean {
  return !(path === '/etc' || path.startsWith('/etc/')) && db.checksummed(path);
}


/** True when the first bytes hold a NUL: the conventional "this is binary" test (git, grep). */
export function isBinary(data: Buffer): boolean {
  return data.subarray(0, SNIFF_BYTES).includes(0);
}

export function extensionOf(p: string): string {
  const base = p.slice(p.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
}

const candidateCache = new WeakMap<Inventory, Map<string, Entry[]>>();

/** The files a content scan reads, chosen from the inventory alone; computed once per inventory and options. */
export function textCandidates(inv: Inventory, opts: Pick<TextScanOptions, 'includeStore' | 'maxBytes'>): Entry[] {
  const key = `${opts.includeStore}:${opts.maxBytes}`;
  let perInv = candidateCache.get(inv);
  if (!perInv) candidateCache.set(inv, (perInv = new Map()));
  const hit = perInv.get(key);
  if (hit) return hit;
  const out: Entry[] = [];
  // The run-time trees (and the store, unless asked) are skipped whole: nothing below them is even made.
  const skip = (d: Entry) => isRuntimePath(d.path) || (!opts.includeStore && isStorePath(d.path));
  for (const e of inv.walk('/', { skip })) {
    if (e.type === 'file' && e.size > 0 && !isBinaryName(e.path)) out.push(e);
  }
  out.sort((a, b) => (a.path < b.path ? -1 : 1));
  perInv.set(key, out);
  return out;
}

/**
 * Whether a regular file of `size` bytes at `path` is a text candidate (textCandidates' test, from the path alone,
 * for readers that must decide before the inventory is complete: an archive's one listing pass keeps these).
 */
export function isTextCandidate(path: string, size: number, opts: Pick<TextScanOptions, 'includeStore'>): boolean {
  return size > 0 && !isRuntimePath(path) && (opts.includeStore || !isStorePath(path)) && !isBinaryName(path);
}

/**
 * The files the shared pass reads: textCandidates, less those `trustPackages` leaves out (`trusted`; the package
 * database is read first then).
 */
export async function passFiles(
  inv: Inventory,
  opts: TextScanOptions,
  packages: () => Promise<PackageDb>,
): Promise<{ files: Entry[]; trusted: Entry[] }> {
  const all = textCandidates(inv, opts);
  if (!opts.trustPackages) return { files: all, trusted: [] };
  const db = await packages();
  const files: Entry[] = [];
  const trusted: Entry[] = [];
  for (const e of all) (trustedByPackages(db, e.path) ? trusted : files).push(e);
  return { files, trusted };
}

/** Whether the content scan skips a file by its type (binary, compressed, images). */
export function isBinaryName(p: string): boolean {
  return BINARY_EXTENSIONS.has(extensionOf(p));
}

export interface ScannedFile {
  entry: Entry;
  data: Buffer;
  binary: boolean;
  /** The contents as UTF-8 text (decoded once, shared by every visitor). */
  text(): string;
  /**
   * What a content rule searches: the text of a text file; of a binary file (a NUL in its first bytes), its
   * printable strings (printableStrings), one a line, from the same bytes (the same byte budget as text).
   */
  searchable(): string;
}

/** Shortest run of printable bytes kept from a binary file (GNU strings keeps 4; secrets and paths are longer). */
export const MIN_STRING = 8;

/** 1 for the bytes a printable string holds: tab and ASCII 0x20-0x7e (GNU strings' default set). */
const PRINTABLE = new Uint8Array(256);
PRINTABLE[9] = 1;
PRINTABLE.fill(1, 0x20, 0x7f);

/** Where printableStrings builds its output before the one copy into a string (kept up to 4 MiB). */
let scratch = Buffer.alloc(0);
const SCRATCH_KEPT = 4 * 1024 * 1024;

/**
 * The printable ASCII runs of binary data (like `strings -n 8`), one a line: tokens, key material, build paths and
 * host names compiled or copied into a binary are found here with the same detectors as in text. Line numbers in it
 * are not the file's: rules say "in its printable strings" instead.
 *
 * Every binary the content pass reads goes through here, so it looks at as few bytes as it can: a run of at least
 * MIN_STRING printable bytes that begins at or after `lo` holds the byte at `lo + MIN_STRING - 1`, so when that byte
 * is not printable the search jumps past it (most of a binary's bytes are never read); when it is, the bytes back to
 * `lo` are checked, and only a whole run is copied. About 3x faster than a regex's match-and-join over the same
 * bytes, with one string made instead of one per run.
 */
export function printableStrings(data: Buffer): string {
  const n = data.length;
  let out = scratch;
  if (out.length < n) {
    out = Buffer.allocUnsafe(Math.max(n, 64 * 1024));
    if (n <= SCRATCH_KEPT) scratch = out;
  }
  let o = 0;
  let lo = 0;
  while (lo + MIN_STRING - 1 < n) {
    const last = lo + MIN_STRING - 1;
    if (PRINTABLE[data[last]!] === 0) {
      lo = last + 1;
      continue;
    }
    let k = last - 1;
    while (k >= lo && PRINTABLE[data[k]!] === 1) k--;
    if (k >= lo) {
      lo = k + 1;
      continue;
    }
    let end = last + 1;
    while (end < n && PRINTABLE[data[end]!] === 1) end++;
    if (o !== 0) out[o++] = 0x0a;
    data.copy(out, o, lo, end);
    o += end - lo;
    lo = end + 1;
  }
  return out.toString('latin1', 0, o);
}

export type Visitor = (file: ScannedFile) => void;

export interface ScanStats {
  candidates: number;
  read: number;
  binary: number;
  /** Candidates left unread because a package installed them (`trustPackages`). */
  trusted: number;
}

/** Split text into lines with their 1-based numbers, lazily. */
export function* lines(text: string): Generator<{ line: string; n: number }> {
  let start = 0;
  let n = 1;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    yield { line: text.slice(start, end).replace(/\r$/, ''), n };
    if (end === text.length) break;
    start = end + 1;
    n++;
  }
}

/** Line number (1-based) of a character offset. */
export function lineAt(text: string, offset: number): { n: number; line: string; col: number } {
  let n = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    n++;
    start = i + 1;
  }
  let end = text.indexOf('\n', start);
  if (end < 0) end = text.length;
  return { n, line: text.slice(start, end).replace(/\r$/, ''), col: offset - start };
}

