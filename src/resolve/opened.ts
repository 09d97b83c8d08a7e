/** Helpers to build OpenedImages out of trees and to combine several opened images into one target. */
import type { FileContent, ImageRoot, OpenedImage } from '../backends/backend.js';
import { Inventory, parentOf } from '../inventory.js';
import type { Entry } from '../types.js';
import { ContentStore, contentOf, type ContentRef, type Placed, type Shadowed } from './tree.js';
import type { TarSource } from './stream.js';
import type { Sink } from './tar.js';
import type { OpenOptions } from '../backends/backend.js';

/**
 * What a listing pass does with the bytes of a file it placed: the nested-image judge sees its head first (it
 * settles the last member, and may hold that one's head, before this one is kept), then the store keeps what the
 * audit is expected to read.
 */
export function listingSinks(
  placed: Placed,
  /** The nested-image judge (nested.ts HeadJudge). */
  heads: { sink(ref: ContentRef, path: string, size: number): Sink | null },
  store: ContentStore,
  expectedRead: OpenOptions['expectedRead'],
): Array<Sink | null> {
  const { ref, path } = placed;
  return [heads.sink(ref, path, ref.size), store.keep(ref, expectedRead?.(path, ref.size))];
}

/** Per-file and total memory kept during a listing pass (override the total with HOSTLEAK_TAR_MEMORY, bytes). */
export const KEEP_PER_FILE = 1024 * 1024;
export function keepBudget(): number {
  const v = Number(process.env.HOSTLEAK_TAR_MEMORY);
  return Number.isSafeInteger(v) && v >= 0 ? v : 128 * 1024 * 1024;
}

/**
 * An ImageRoot over a tree whose files live in tar sources: kept bytes from memory, the rest read in one batch per
 * source (by offset, or one streaming pass).
 */
export interface TreeRootSpec {
  prefix: string | null;
  inventory: Inventory;
  /** A regular file's content reference by its path (TreeBuilder.seal). */
  refOf: (p: string) => ContentRef | undefined;
  /** The archive's sources, one per layer (ContentRef.layer indexes them). */
  sources: TarSource[];
  store: ContentStore;
  ruleTags?: readonly string[];
  /** Files whose heads the listing judged to be no image (HeadJudge). */
  notAnImage?: (ref: ContentRef) => boolean;
}

export function treeRoot({ prefix, inventory, refOf, sources, store, ruleTags, notAnImage }: TreeRootSpec): ImageRoot {
  return {
    prefix,
    inventory,
    ruleTags,
    ...(notAnImage && {
      notAnImage: (p: string) => {
        const ref = refOf(p);
        return ref !== undefined && notAnImage(ref);
      },
    }),
    // A compressed archive is read forward: the content pass asks for its files in archive order.
    readOrder: (p) => {
      const ref = refOf(p);
      return ref ? (ref.extents[0]?.stored ?? 0) : 0;
    },
    async readFiles(paths, maxBytes) {
      const out = new Map<string, FileContent | Error>();
      const misses = new Map<number, Array<{ path: string; ref: ContentRef }>>();
      for (const p of paths) {
        const ref = refOf(p);
        if (!ref) {
          out.set(p, new Error(`${p}: not a regular file`));
          continue;
        }
        const kept = store.get(ref, maxBytes);
        if (kept) {
          out.set(p, contentOf(kept, ref.size, maxBytes));
          continue;
        }
        let list = misses.get(ref.layer);
        if (!list) misses.set(ref.layer, (list = []));
        list.push({ path: p, ref });
      }
      for (const [layer, list] of misses) {
        try {
          const got = await store.fetch(sources[layer]!, layer, list.map((m) => m.ref), maxBytes);
          for (const m of list) out.set(m.path, contentOf(got.get(m.ref)!, m.ref.size, maxBytes));
        } catch (err) {
          for (const m of list) out.set(m.path, err instanceof Error ? err : new Error(String(err)));
        }
      }
      return out;
    },
  };
}

/**
 * For --verbose: how the files the audit read came out of the sources: from memory (kept during the listing) or
 * later, and how many passes over each compressed source that took, the listing included (`layer N:` for several).
 */
export function describeReads(store: ContentStore, sources: TarSource[]): string {
  const passes = sources.map((s, i) => (s.compression ? `${1 + (store.stats.passes.get(i) ?? 0)}` : 'by offset'));
  const each = sources.length === 1 ? passes[0]! : passes.map((p, i) => `layer ${i + 1}: ${p}`).join(', ');
  return `files read: ${store.stats.hits} from memory, ${store.stats.later} later; passes over the decompressed stream (the listing included): ${each}`;
}

/**
 * Roots of the files an archive or a stack of layers ships but its final tree does not show (TreeBuilder.hidden()):
 * one root per layer named `nameOf(layer)`, and one more (`<name>#2` ...) for each further copy of a path hidden
 * more than once in that layer. Only the secret rules look at them; each finding says where the bytes are and what
 * hid them ("shipped but hidden: member at byte N of <place>, replaced by ... at byte M of <place>").
 */
export function hiddenRoots(
  hidden: Shadowed[],
  nameOf: (layer: number) => string,
  placeOf: (layer: number) => string,
  sources: TarSource[],
  store: ContentStore,
): ImageRoot[] {
  const groups = new Map<string, Map<string, Shadowed>>();
  const order: Array<[number, string]> = [];
  for (const s of hidden) {
    for (let copy = 1; ; copy++) {
      const name = copy === 1 ? nameOf(s.layer) : `${nameOf(s.layer)}#${copy}`;
      let g = groups.get(name);
      if (!g) {
        groups.set(name, (g = new Map()));
        order.push([s.layer, name]);
      }
      if (g.has(s.entry.path)) continue;
      g.set(s.entry.path, s);
      break;
    }
  }
  order.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
  return order.map(([, name]) => {
    const files = groups.get(name)!;
    const inv = inventoryWithParents([...files.values()].map((f) => f.entry), name);
    const root = treeRoot({ prefix: name, inventory: inv, refOf: (p) => files.get(p)?.ref, sources, store, ruleTags: ['secret'] });
    root.noteOf = (p) => {
      const f = files.get(p);
      return f && `shipped but hidden: member at byte ${f.offset} of ${placeOf(f.layer)}, ${f.why}`;
    };
    return root;
  });
}

/** An inventory holding `entries` plus the directories above them (for roots made of loose files). */
export function inventoryWithParents(entries: Entry[], fs: string): Inventory {
  const inv = new Inventory();
  const dir = (p: string): Entry => ({ path: p, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, fs });
  inv.add(dir('/'));
  for (const e of entries) {
    for (let p = parentOf(e.path); p !== '/' && !inv.has(p); p = parentOf(p)) inv.add(dir(p));
    inv.add(e);
  }
  return inv;
}

/** Several opened images (members of an archive, images in a folder) as one target; roots named by their label. */
export function combineImages(
  parts: Array<{ label: string; image: OpenedImage }>,
  backend?: string,
  named = parts.length > 1,
): OpenedImage {
  if (!named && backend === undefined) return parts[0]!.image;
  const name = (label: string, p: string | null) => (p ? `${label}:${p}` : label);
  return {
    backend: backend ?? [...new Set(parts.map((p) => p.image.backend))].join('+'),
    filesystems: parts.flatMap(({ label, image }) =>
      image.filesystems.map((f) => (named ? { ...f, device: name(label, f.device) } : f)),
    ),
    roots: parts.flatMap(({ label, image }) =>
      image.roots.map((r) => (named ? { ...r, prefix: name(label, r.prefix) } : r)),
    ),
    problems: parts.flatMap(({ label, image }) => image.problems.map((p) => (named ? `${label}: ${p}` : p))),
    async close() {
      for (const p of parts) await p.image.close().catch(() => undefined);
    },
  };
}
