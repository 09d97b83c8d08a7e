/**
 * The one walk over every native filesystem (dfvfs's searcher, go-diskfs's fs.WalkDir). A reader only answers "what
 * is in this directory" (`readDir`), names the key that identifies a directory (`dirKey`) and reads a file by the
 * location it gave (`readFile`, `openFile`); everything else is done here, once, alike for every format:
 * - an explicit stack (no recursion whose depth the image decides) and the visited keys that stop directory cycles;
 * - one name check (empty, `.`, `..`, `/` and NUL are refused alike), duplicate names and cycles: each a problem;
 * - the budget: entries listed and directory bytes read end the target with a BudgetError, and the deadline is
 *   checked by the clock in the loop (not only on reads, which caches may serve);
 * - the inventory, column by column, and each entry's location in the reader by inventory index.
 */
import { currentBudget, type TargetBudget } from '../../budget.js';
import { BudgetError, oneLine, TargetError } from '../../errors.js';
import { Inventory } from '../../inventory.js';
import type { Entry, FileContent } from '../../types.js';
import type { FilesystemView } from '../backend.js';
import { LIMITS, ProblemList, rethrowIfStrict } from './fs.js';
import { CorruptImageError, type ByteSource } from './source.js';

/**
 * An entry as a reader hands it to the walk: the entry's fields but its path and filesystem (the walk's), and `ref`,
 * where the reader finds it again (an inode number, a cursor, extents). A directory's `size` is the bytes `readDir`
 * reads (what the directory budgets count). The walk copies what it keeps: a reader may reuse one object.
 */
export type Node<R> = Omit<Entry, 'path' | 'fs'> & { ref: R };

/** What a reader reports to while it reads one directory. */
export interface DirSink<R> {
  /** One entry of the directory (not its own `.`/`..` records, which are the format's, not entries). */
  entry(name: string, node: Node<R>): void;
  /** Damage in the directory, or at its entry `name`. */
  problem(msg: string, name?: string): void;
  /** Damage to the filesystem as a whole (truncated, a journal to replay). */
  whole(msg: string): void;
  /**
   * A read that failed for one entry (`name`) or for the rest of the directory: a problem, unless it is the budget
   * or the deadline running out (or a reader bug in strict mode), which ends the walk.
   */
  failed(err: unknown, name?: string, what?: string): void;
}

/** A native filesystem reader: one directory at a time; the walk, the budgets and the inventory are this module's. */
export interface FsReader<R> {
  /** ext2, ext3, ext4, vfat, iso9660, squashfs, erofs: as blkid / libguestfs name it. */
  readonly type: string;
  readonly label: string | null;
  readonly uuid: string | null;
  /** The root directory (its damage, and the whole filesystem's, to `sink`). */
  root(sink: DirSink<R>): Node<R> | Promise<Node<R>>;
  /** The entries of a directory, by its ref, to `sink`. Throws when the directory cannot be read at all. */
  readDir(dir: R, sink: DirSink<R>): void | Promise<void>;
  /** The key that identifies a directory: a second directory with the same key is a cycle and is not read. */
  dirKey(dir: R): number;
  /** The first `maxBytes` of a regular file. Throws on failure. */
  readFile(ref: R, maxBytes: number): FileContent | Promise<FileContent>;
  /**
   * Where a file's data about starts in the image (a number that grows with it). A batch of files is read in this
   * order: neighbours that share a compressed block (squashfs fragments, erofs pclusters) are read while the decoded
   * block is still cached, and the image is read forwards. Without it, files are read in the order asked.
   */
  readOrder?(ref: R): number;
  /** A regular file as a random-access source (a filesystem image stored in this one). Throws on failure. */
  openFile?(ref: R): ByteSource;
  /** About how many entries to expect (a hint the inventory sizes itself by; never trusted beyond its cap). */
  expectedEntries?(): number;
  /** The walk is over: drop what only it needed. */
  walked?(): void;
  /**
   * btrfs, after the walk: the subvolume whose root directory each ref is, and the default one (see
   * FilesystemView.btrfs).
   */
  subvolumes?(): { list: Array<{ id: number; ref: R }>; defaultId: number };
}

export interface WalkLimits {
  /** Entries listed, over every walk sharing the budget. */
  maxEntries: number;
  /** Bytes of one directory; a bigger one is a problem and is not read. */
  maxDirBytes: number;
  /** Directory bytes read, over every walk sharing the budget. */
  maxTotalDirBytes: number;
  /** The deadline: throws (a TimeoutError, which is a BudgetError) once the time is up. */
  check?: () => void;
}

/** Memory the walk keeps per entry beyond its inventory node: the reader's reference to it. */
const REF_COST = 160;

/**
 * What the walks of one target may spend (entries, directory bytes) and its deadline. Pass one budget to every walk
 * of a target so that the budget is the target's, not each filesystem's.
 */
export class WalkBudget {
  readonly limits: WalkLimits;
  /** The target's budget (src/budget.ts): each entry's reader reference is charged to its memory. */
  private readonly target: TargetBudget | undefined;
  entries = 0;
  dirBytes = 0;
  constructor(limits: Partial<WalkLimits> = {}) {
    // Without a deadline of its own, a walk takes the one of the target it runs in (src/budget.ts): a nested image
    // opened in place is walked under its target's deadline too.
    const target = (this.target = currentBudget());
    this.limits = {
      maxEntries: LIMITS.maxEntries,
      maxDirBytes: LIMITS.maxDirBytes,
      maxTotalDirBytes: LIMITS.maxTotalDirBytes,
      ...limits,
    };
    if (!this.limits.check && target) this.limits.check = () => target.check();
  }

  /** One more entry listed (the deadline is looked at every 1024). */
  entry(): void {
    this.target?.chargeMemory(REF_COST, 'entries listed');
    if (++this.entries > this.limits.maxEntries) {
      throw new BudgetError(`more than ${this.limits.maxEntries} entries listed; the rest was not read (the entries budget)`);
    }
    if ((this.entries & 1023) === 0) this.limits.check?.();
  }

  /** A directory of `n` bytes about to be read. */
  directory(n: number): void {
    this.dirBytes += n;
    if (this.dirBytes > this.limits.maxTotalDirBytes) {
      throw new BudgetError(`more than ${this.limits.maxTotalDirBytes} bytes of directories read; the rest was not read (the directory budget)`);
    }
    this.limits.check?.();
  }
}

/** A filesystem walked: its inventory, the damage found, and the reader's location of each entry by inventory index. */
export interface Walked<R> {
  inventory: Inventory;
  problems: string[];
  refs: R[];
}

const ROOT = Inventory.ROOT;

/** One walk's state; it is the sink every directory is read into. */
class Walk<R> implements DirSink<R> {
  readonly inventory = new Inventory();
  readonly problems = new ProblemList();
  readonly refs: R[] = [];
  private readonly visited = new Set<number>();
  /** Directories still to read: their inventory index and their byte size. */
  private readonly stack: number[] = [];
  private readonly sizes: number[] = [];
  /** The directory being read. */
  private dir = ROOT;

  constructor(
    private readonly reader: FsReader<R>,
    private readonly device: string,
    private readonly budget: WalkBudget,
  ) {}

  private where(name?: string): string {
    const dir = this.inventory.pathOf(this.dir);
    if (name === undefined) return dir;
    return dir === '/' ? `/${name}` : `${dir}/${name}`;
  }

  problem(msg: string, name?: string): void {
    this.problems.push(`${this.device}:${this.where(name)}: ${msg}`);
  }

  whole(msg: string): void {
    this.problems.push(`${this.device}: ${msg}`);
  }

  failed(err: unknown, name?: string, what?: string): void {
    if (err instanceof BudgetError) throw err;
    rethrowIfStrict(err);
    this.problem(what ? `${what} (${oneLine(err)})` : oneLine(err), name);
  }

  entry(name: string, node: Node<R>): void {
    this.budget.entry();
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      this.problem('invalid file name in directory');
      return;
    }
    const isDir = node.type === 'dir';
    let key = 0;
    if (isDir) {
      key = this.reader.dirKey(node.ref);
      if (this.visited.has(key)) {
        this.problem('directory appears twice (directory cycle)', name);
        return;
      }
    }
    const idx = this.inventory.addChild(this.dir, name, node.type, node.mode, node.uid, node.gid, node.size, node.mtime, this.device, node.target);
    if (idx < 0) {
      this.problem('duplicate name in directory', name);
      return;
    }
    this.refs[idx] = node.ref;
    if (isDir) {
      this.visited.add(key);
      this.stack.push(idx);
      this.sizes.push(node.size);
    }
  }

  async run(): Promise<void> {
    const hint = this.reader.expectedEntries?.();
    if (hint !== undefined) this.inventory.reserve(hint);
    const root = await this.reader.root(this);
    if (root.type !== 'dir') throw new CorruptImageError(`${this.device}: root inode is not a directory`);
    this.budget.entry();
    this.inventory.setRoot('dir', root.mode, root.uid, root.gid, root.size, root.mtime, this.device);
    this.refs[ROOT] = root.ref;
    this.visited.add(this.reader.dirKey(root.ref));
    this.stack.push(ROOT);
    this.sizes.push(root.size);
    while (this.stack.length > 0) {
      this.dir = this.stack.pop()!;
      const size = this.sizes.pop()!;
      if (size > this.budget.limits.maxDirBytes) {
        this.problem(`directory too large (${size} bytes)`);
        continue;
      }
      this.budget.directory(size);
      try {
        const pending = this.reader.readDir(this.refs[this.dir]!, this);
        if (pending) await pending;
      } catch (err) {
        this.failed(err, undefined, 'unreadable directory');
      }
    }
  }
}

/** Walk a whole filesystem: its inventory (entries carry `fs: device`), the problems found, each entry's ref. */
export async function walk<R>(reader: FsReader<R>, device: string, budget: WalkBudget = new WalkBudget()): Promise<Walked<R>> {
  const w = new Walk(reader, device, budget);
  try {
    await w.run();
  } finally {
    reader.walked?.();
  }
  return { inventory: w.inventory, problems: w.problems.done(), refs: w.refs };
}

/** The ref of the regular file at `path` of a walked filesystem, or an error saying why there is none. */
function fileRef<R>(walked: Walked<R>, path: string): R {
  const idx = walked.inventory.indexOf(path);
  if (idx < 0) throw new Error(`${path}: no such file`);
  if (walked.inventory.entryAt(idx, path).type !== 'file') throw new Error(`${path}: not a regular file`);
  return walked.refs[idx]!;
}

/** Where the walk put each subvolume's root directory, by path (one it did not reach is left out). */
function subvolumePaths<R>(subs: { list: Array<{ id: number; ref: R }>; defaultId: number }, walked: Walked<R>): NonNullable<FilesystemView['btrfs']> {
  const idOf = new Map(subs.list.map((s) => [s.ref, s.id]));
  const subvolumes: Array<{ id: number; path: string }> = [];
  walked.refs.forEach((ref, i) => {
    const id = idOf.get(ref);
    if (id !== undefined && walked.inventory.entryAt(i).type === 'dir') subvolumes.push({ id, path: walked.inventory.pathOf(i) });
  });
  return { subvolumes, defaultId: subs.defaultId };
}

/**
 * A walked filesystem as the backend's view: its inventory, and its files read by path through the reader (whose
 * errors do not name the path: whoever asked for it does).
 */
export function readerView<R>(reader: FsReader<R>, walked: Walked<R>, device: string): Omit<FilesystemView, 'partlabel' | 'partuuid'> {
  return {
    device,
    type: reader.type,
    label: reader.label,
    uuid: reader.uuid,
    inventory: walked.inventory,
    ...(reader.subvolumes ? { btrfs: subvolumePaths(reader.subvolumes(), walked) } : {}),
    async readFiles(paths: string[], maxBytes: number): Promise<Map<string, FileContent | Error>> {
      const out = new Map<string, FileContent | Error>();
      const refs: Array<{ p: string; ref?: R; key: number }> = [];
      for (const p of paths) {
        try {
          const ref = fileRef(walked, p);
          refs.push({ p, ref, key: reader.readOrder?.(ref) ?? 0 });
        } catch (err) {
          out.set(p, err instanceof Error ? err : new Error(String(err)));
        }
      }
      // A stable sort: with no order from the reader, files are read as asked.
      if (reader.readOrder) refs.sort((a, b) => a.key - b.key);
      for (const { p, ref } of refs) {
        try {
          out.set(p, await reader.readFile(ref!, maxBytes));
        } catch (err) {
          out.set(p, err instanceof Error ? err : new Error(String(err)));
        }
      }
      return out;
    },
    openFile: reader.openFile
      ? (p: string): ByteSource => {
          try {
            return reader.openFile!(fileRef(walked, p));
          } catch (err) {
            if (err instanceof TargetError) throw err;
            throw new TargetError(`${device}:${p}: ${oneLine(err)}`);
          }
        }
      : undefined,
  };
}
