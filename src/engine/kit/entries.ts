/**
 * One shared pass over the inventory's entries for every rule that looks at all of them (owners, modes, names,
 * symlink targets): one walk hands every visitor the same cursor (`EntryCursor`: the entry read column by column,
 * no object and no path string unless a visitor asks), instead of one walk (and one object per entry) per rule.
 * Every rule that calls `forEachEntry` in the same tick shares one walk (it runs on the next macrotask); a rule that
 * calls it later, after awaiting something, gets a walk of its own: the same entries, one more walk of the in-memory
 * inventory. (The content pass, which reads the image, is declared instead: readsText.)
 */
import { currentBudget } from '../../budget.js';
import type { EntryCursor, EntryType, Inventory, NameMask } from '../../inventory.js';

export type { EntryCursor } from '../../inventory.js';

/** Gets each entry as a cursor the walk moves on: keep `entry.entry()`, never `entry` itself. */
export type EntryVisitor = (entry: EntryCursor) => void;

export interface ForEachEntryOptions {
  /**
   * Paths whose entries, at and below them, are not visited (`/nix/store`: what `isStorePath` says of a path, told
   * by position in the walk, without making the path).
   */
  skip?: readonly string[];
  /** Only entries of these types reach the visitor. */
  types?: readonly EntryType[];
  /**
   * Only entries whose own name passes reach the visitor: the test is asked once per distinct name of the image,
   * not once per entry (a pure function of the name).
   */
  names?: (name: string) => boolean;
}

interface Subscriber {
  /** Entries strictly below this directory (`/`: all but the root). */
  prefix: string;
  opts: ForEachEntryOptions;
  visit: EntryVisitor;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Pass {
  subscribers: Subscriber[];
}

/** A subscriber in a running pass: the runs of positions it visits, [start, end) pairs, the current one lo..hi. */
interface Live {
  s: Subscriber;
  runs: number[];
  r: number;
  lo: number;
  hi: number;
  types: readonly EntryType[] | undefined;
  names: NameMask | undefined;
}

const passes = new WeakMap<Inventory, Pass>();

/** The positions (in `visitAll` order) below `prefix` and not at or below any `skip` path, as [start, end) pairs. */
function runsOf(inventory: Inventory, s: Subscriber): number[] | null {
  const below = inventory.span(s.prefix);
  if (!below) return null;
  let runs = [below[0], below[1]];
  for (const p of s.opts.skip ?? []) {
    const cut = inventory.span(p, true);
    if (!cut) continue;
    const next: number[] = [];
    for (let j = 0; j < runs.length; j += 2) {
      const a = runs[j]!;
      const b = runs[j + 1]!;
      if (cut[1] <= a || cut[0] >= b) next.push(a, b);
      else {
        if (cut[0] > a) next.push(a, cut[0]);
        if (cut[1] < b) next.push(cut[1], b);
      }
    }
    runs = next;
  }
  return runs;
}

function run(inventory: Inventory, pass: Pass): void {
  // Subscribers from now on wait for the next pass.
  if (passes.get(inventory) === pass) passes.delete(inventory);
  // Those below `/` see each entry first, then those below a directory, each in the order they subscribed.
  const ordered = [...pass.subscribers.filter((s) => s.prefix === '/'), ...pass.subscribers.filter((s) => s.prefix !== '/')];
  const live: Live[] = [];
  for (const s of ordered) {
    // A prefix that is no directory reachable from `/` has nothing below it in the walk.
    const runs = runsOf(inventory, s);
    if (!runs || runs.length === 0) s.resolve();
    else {
      const { types, names } = s.opts;
      let mask: NameMask | undefined;
      try {
        mask = names && inventory.nameMask(names);
      } catch (err) {
        s.reject(err);
        continue;
      }
      live.push({ s, runs, r: 0, lo: runs[0]!, hi: runs[1]!, types, names: mask });
    }
  }
  if (live.length === 0) return;
  const budget = currentBudget();
  try {
    inventory.visitAll((c) => {
      // A million entries times every visitor holds the event loop: the target's deadline is read by the clock.
      budget?.tick();
      const k = c.at;
      for (let j = 0; j < live.length; j++) {
        const x = live[j]!;
        if (k >= x.hi) {
          // Positions only grow: on to the run that holds k (or past the last one).
          do {
            x.r += 2;
          } while (x.r < x.runs.length && k >= x.runs[x.r + 1]!);
          x.lo = x.r < x.runs.length ? x.runs[x.r]! : Infinity;
          x.hi = x.r < x.runs.length ? x.runs[x.r + 1]! : Infinity;
        }
        if (k < x.lo || (x.types && !x.types.includes(c.type)) || (x.names && !c.nameIn(x.names))) continue;
        try {
          x.s.visit(c);
        } catch (err) {
          // Dropped from the pass; the next subscriber still gets this entry.
          x.s.reject(err);
          live.splice(j--, 1);
        }
      }
    });
  } catch (err) {
    // Time is up: every subscriber still in the pass gets the TimeoutError (this runs from setImmediate, where a
    // throw would be uncaught).
    for (const x of live) x.s.reject(err);
    return;
  }
  for (const x of live) x.s.resolve();
}

/**
 * Visit every entry strictly below `dir` (like `inventory.walk(dir)`, same order), sharing one walk with every other
 * rule that subscribed in the same tick; `skip` leaves out what is at and below some paths, `types` and `names`
 * what the visitor would return on at once. The visitor gets a cursor
 * (read what it needs; keep `entry()`). Resolves when the walk is over; rejects when the visitor throws.
 */
export function forEachEntry(inventory: Inventory, dir: string, visit: EntryVisitor, opts: ForEachEntryOptions = {}): Promise<void> {
  let pass = passes.get(inventory);
  if (!pass) {
    const p: Pass = { subscribers: [] };
    passes.set(inventory, (pass = p));
    setImmediate(() => run(inventory, p));
  }
  const prefix = dir.length > 1 && dir.endsWith('/') ? dir.slice(0, -1) : dir;
  const p = pass;
  return new Promise<void>((resolve, reject) => p.subscribers.push({ prefix, opts, visit, resolve, reject }));
}
