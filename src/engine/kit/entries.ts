/**
 * One shared pass over the inventory's entries for every rule that looks at all of them (owners, modes, names,
 * symlink targets): each entry is made once and handed to every visitor, instead of one walk (and one object per
 * entry) per rule. Every rule that calls `forEachEntry` in the same tick shares one walk (it runs on the next
 * macrotask); a rule that calls it later, after awaiting something, gets a walk of its own: the same entries, one
 * more walk of the in-memory inventory. (The content pass, which reads the image, is declared instead: readsText.)
 */
import { currentBudget } from '../../budget.js';
import type { Inventory } from '../../inventory.js';
import type { Entry } from '../../types.js';

export type EntryVisitor = (entry: Entry) => void;

interface Subscriber {
  /** Entries strictly below this directory (`/`: all but the root). */
  prefix: string;
  visit: EntryVisitor;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Pass {
  subscribers: Subscriber[];
}

const passes = new WeakMap<Inventory, Pass>();

function run(inventory: Inventory, pass: Pass): void {
  // Subscribers from now on wait for the next pass.
  if (passes.get(inventory) === pass) passes.delete(inventory);
  let live = pass.subscribers.filter((s) => inventory.get(s.prefix)?.type === 'dir' || s.prefix === '/');
  for (const s of pass.subscribers) if (!live.includes(s)) s.resolve();
  const all = live.filter((s) => s.prefix === '/');
  let some = live.filter((s) => s.prefix !== '/').map((s) => ({ s, under: s.prefix + '/' }));
  const budget = currentBudget();
  try {
    inventory.walkEach('/', (e) => {
      // A million entries times every visitor holds the event loop: the target's deadline is read by the clock.
      budget?.tick();
      visitEntry(e);
    });
  } catch (err) {
    // Time is up: every subscriber still in the pass gets the TimeoutError (this runs from setImmediate, where a
    // throw would be uncaught).
    for (const s of [...all, ...some.map((x) => x.s)]) s.reject(err);
    return;
  }
  function visitEntry(e: Entry): void {
    for (let j = 0; j < all.length; j++) {
      try {
        all[j]!.visit(e);
      } catch (err) {
        // Dropped from the pass; the next subscriber still gets this entry.
        all[j]!.reject(err);
        all.splice(j--, 1);
      }
    }
    for (const x of some) {
      if (!e.path.startsWith(x.under)) continue;
      try {
        x.s.visit(e);
      } catch (err) {
        x.s.reject(err);
        some = some.filter((y) => y !== x);
      }
    }
  }
  live = [...all, ...some.map((x) => x.s)];
  for (const s of live) s.resolve();
}

/**
 * Visit every entry strictly below `dir` (like `inventory.walk(dir)`, same order), sharing one walk with every other
 * rule that subscribed in the same tick. Resolves when the walk is over; rejects when the visitor throws.
 */
export function forEachEntry(inventory: Inventory, dir: string, visit: EntryVisitor): Promise<void> {
  let pass = passes.get(inventory);
  if (!pass) {
    const p: Pass = { subscribers: [] };
    passes.set(inventory, (pass = p));
    setImmediate(() => run(inventory, p));
  }
  const prefix = dir.length > 1 && dir.endsWith('/') ? dir.slice(0, -1) : dir;
  const p = pass;
  return new Promise<void>((resolve, reject) => p.subscribers.push({ prefix, visit, resolve, reject }));
}
