/**
 * The young generation's size, for work that builds many small objects that all live on.
 *
 * The CLI holds V8's young generation at its start size (src/bin/heap.ts): the native readers build a compact,
 * columnar inventory, and letting the young generation grow bought nothing but resident memory. An archive's listing
 * is the opposite case: objects per member that live to the end (its name, a file's content reference and extents;
 * until 2026-12 also an entry and a node object each), so a small young generation collects and copies them over and
 * over (on the 147k-entry bench tree's .tar.gz, a third of the listing's time was the garbage collector then). Once
 * such a tree is large the young generation may grow again, as V8 lets it by default: 12% less CPU there then, and a
 * lower peak (the survivors leave the young generation sooner; still about 10 MiB lower with the columnar tree). Not for
 * small trees: on a Debian root (7,000 entries) it bought no CPU and cost 40 MiB more peak, the content pass's large
 * strings filling a grown young generation. A user's own semi-space flags win, and a library caller that never tuned
 * the heap gets V8's default, which this is.
 */
import v8 from 'node:v8';

let growing = false;

/** Let the young generation grow (V8's default growth factor) from now on in this process. */
export function expectManyLiveObjects(): void {
  if (growing) return;
  growing = true;
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => /semi[-_]space/.test(a));
  if (!given) v8.setFlagsFromString('--semi-space-growth-factor=2');
}
