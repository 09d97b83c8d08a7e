import { defineRule, textScanOptions, trustedByPackages, withArticle } from '../src/engine/kit/index.js';
import { MAX_NESTED_CANDIDATES, mayBeImage, NESTED_HEAD, nestedCandidates, nestedImages } from '../src/resolve/nested.js';

export default defineRule({
  // The shared content pass reads most candidates anyway (big files outside the store): their heads are judged on
  // the way, and only the files the pass does not read (image names, binary types) are read again, head only.
  readsText: true,
  meta: {
    id: 'nested-image',
    severity: 'warning',
    tags: ['coverage'],
    description: 'A file inside the image is itself a disk or filesystem image, or an initramfs, whose contents were not audited',
    remediation:
      'hostleak audits every image found inside an image as a root of its own (findings read `/path/to/file.img:/etc/...`); ' +
      'this one was not: `--no-nested` was given, or it could not be opened or sits too deep (the target is then partial ' +
      'and says why). Scan without --no-nested to audit it. If the file should not ship, remove it from the build.',
    references: ['https://github.com/hostleak/hostleak/blob/main/docs/targets.md'],
  },
  async check(ctx) {
    const { inventory, fs, report } = ctx;
    // Under trustPackages a file a package installed is no image the builder left: its head is not read either.
    const db = textScanOptions(ctx.options).trustPackages ? await ctx.packages() : null;
    const chosen = nestedCandidates(inventory, db ? (e) => !trustedByPackages(db, e.path) : undefined);
    const candidates = new Set(chosen.files.map((e) => e.path));
    // Candidates the pass read: the head of a possible image, null for a file that is none.
    const judged = new Map<string, Buffer | null>();
    await ctx.scanText((file) => {
      const { path, size } = file.entry;
      if (!candidates.has(path) || file.data.length < Math.min(size, NESTED_HEAD)) return;
      const head = file.data.subarray(0, NESTED_HEAD);
      judged.set(path, mayBeImage(head) ? Buffer.from(head) : null);
    });
    const { images: found, unchecked } = await nestedImages(inventory, async (paths) => {
      const rest = paths.filter((p) => !judged.has(p) && !fs.notAnImage?.(p));
      const heads = await Promise.all(rest.map((p) => fs.readFile(p, { maxBytes: NESTED_HEAD, cache: false })));
      const out = new Map<string, Buffer | null>(paths.filter((p) => judged.has(p)).map((p) => [p, judged.get(p)!]));
      rest.forEach((p, i) => out.set(p, heads[i]?.data ?? null));
      return out;
    }, chosen, fs.readOrder && ((p) => fs.readOrder!(p)));
    for (const n of found) {
      report({
        path: n.entry.path,
        message: `${n.entry.path} is ${withArticle(n.description)} inside the image; its contents were not audited`,
        evidence: `size=${n.entry.size}`,
      });
    }
    if (unchecked > 0) {
      report({
        path: '/',
        // What was not checked, as content-partly-scanned says it of contents: a statement of coverage, not a leak.
        severity: 'info',
        message: `${unchecked} more files that could be images were not checked for nested images (the first ${MAX_NESTED_CANDIDATES} were)`,
        evidence: `unchecked=${unchecked}`,
      });
    }
  },
});
