/**
 * The shared content pass: the engine that reads the text files once for every rule in the pass (`readsText`) and
 * hands each file to every visitor. Rules subscribe through `ctx.scanText`; which files are read is the kit's
 * (textCandidates, passFiles in src/engine/kit/text.ts).
 *
 * The runner takes a ticket for each rule in the pass before any check starts; the pass for a set of options begins
 * once every such rule has either subscribed its visitor or finished without one. So all of them share one read of
 * the image whatever each awaits before subscribing, and nothing depends on timing. The pass reads the candidates in
 * bounded chunks (every read of a chunk issued at once, so the engine batches them into one backend call) without
 * keeping them in the audit's cache.
 */
import { currentBudget } from '../../budget.js';
import type { Inventory } from '../../inventory.js';
import type { Entry } from '../../types.js';
import type { ImageFs, PackageDb } from '../kit/image.js';
import { inReadOrder } from './imagefs.js';
import { isBinary, passFiles, printableStrings, type ScannedFile, type ScanStats, type TextScanOptions, type Visitor } from '../kit/text.js';

/** One chunk of the shared pass: at most this many files and bytes in flight. */
const CHUNK_FILES = 2048;
const CHUNK_BYTES = 64 * 1024 * 1024;

async function runPass(fs: ImageFs, files: Entry[], trusted: number, opts: TextScanOptions, visitors: Visitor[]): Promise<ScanStats> {
  const stats: ScanStats = { candidates: files.length + trusted, read: 0, binary: 0, trusted };
  let i = 0;
  const budget = currentBudget();
  while (i < files.length) {
    // By the clock, not only through the deadline's signal: scanning a chunk holds the event loop.
    budget?.check();
    const chunk: Entry[] = [];
    let bytes = 0;
    while (i < files.length && chunk.length < CHUNK_FILES && (chunk.length === 0 || bytes < CHUNK_BYTES)) {
      bytes += Math.min(files[i]!.size, opts.maxBytes);
      chunk.push(files[i++]!);
    }
    const results = await Promise.all(
      chunk.map((e) => fs.readFile(e.path, { maxBytes: opts.maxBytes, cache: false }).catch(() => null)),
    );
    for (let k = 0; k < chunk.length; k++) {
      const r = results[k];
      if (!r || r.data.length === 0) continue;
      stats.read++;
      const binary = isBinary(r.data);
      if (binary) stats.binary++;
      let decoded: string | null = null;
      let strings: string | null = null;
      const text = () => (decoded ??= r.data.toString('utf8'));
      const file: ScannedFile = {
        entry: chunk[k]!,
        data: r.data,
        binary,
        text,
        searchable: binary ? () => (strings ??= printableStrings(r.data)) : text,
      };
      for (const v of visitors) v(file);
    }
  }
  return stats;
}

/** One shared pass: the visitors of every declared rule with the same text options. */
interface Pass {
  opts: TextScanOptions;
  /** Declared rules that have not yet subscribed or finished. */
  waiting: number;
  visitors: Visitor[];
  done: Promise<ScanStats>;
  start: () => void;
}

/** A declared rule's place in the pass for its options. */
export interface TextTicket {
  readonly key: string;
  settled: boolean;
}

/**
 * The text passes of one audit. Rules declare that they read text files (`readsText` on the rule); the runner
 * takes a ticket for each before any check starts, and the pass for a set of options begins once every declared
 * rule with those options has either subscribed its visitor or finished without one. So all of them share one
 * read of the image whatever each awaits before subscribing, and nothing depends on timing.
 */
export class TextPasses {
  private readonly passes = new Map<string, Pass>();

  constructor(
    private readonly fs: ImageFs,
    private readonly inventory: Inventory,
    private readonly packages: () => Promise<PackageDb>,
    /** The backend's read order (ImageRoot.readOrder): the pass reads its files in it. */
    private readonly order?: (path: string) => number,
  ) {}

  /** A declared rule will read text files with these options. */
  expect(opts: TextScanOptions): TextTicket {
    const key = `${opts.includeStore}:${opts.maxBytes}:${opts.trustPackages}`;
    let pass = this.passes.get(key);
    if (!pass) {
      let start!: () => void;
      const begun = new Promise<void>((resolve) => (start = resolve));
      const p: Pass = { opts, waiting: 0, visitors: [], done: Promise.resolve(null as never), start };
      p.done = begun.then(async () => {
        if (p.visitors.length === 0) return { candidates: 0, read: 0, binary: 0, trusted: 0 };
        const { files, trusted } = await passFiles(this.inventory, p.opts, this.packages);
        return runPass(this.fs, this.order ? inReadOrder(files, this.order) : files, trusted.length, p.opts, p.visitors);
      });
      this.passes.set(key, (pass = p));
    }
    pass.waiting++;
    return { key, settled: false };
  }

  /** The rule's visitor joins its pass; resolves when the pass has visited every candidate. */
  subscribe(ticket: TextTicket, visitor: Visitor): Promise<ScanStats> {
    if (ticket.settled) throw new Error('a rule joins the text pass once');
    const pass = this.passes.get(ticket.key)!;
    pass.visitors.push(visitor);
    this.settle(ticket);
    return pass.done;
  }

  /** The rule finished (or crashed) without subscribing: the pass no longer waits for it. */
  release(ticket: TextTicket): void {
    if (!ticket.settled) this.settle(ticket);
  }

  private settle(ticket: TextTicket): void {
    ticket.settled = true;
    const pass = this.passes.get(ticket.key)!;
    if (--pass.waiting === 0) pass.start();
  }
}
