import { defineRule } from '../src/engine/kit/index.js';
import { MAX_NESTED_CANDIDATES, NESTED_HEAD, nestedImages } from '../src/resolve/nested.js';

export default defineRule({
  meta: {
    id: 'nested-image',
    severity: 'info',
    tags: ['coverage'],
    description: 'A file inside the image is itself a disk or filesystem image, whose contents were not audited',
    remediation:
      'Audit it too: `hostleak scan --nested` opens every image found inside an image as a root of its own (findings ' +
      'read `/path/to/file.img:/etc/...`). If the file should not ship, remove it from the build.',
    references: ['https://github.com/hostleak/hostleak/blob/main/docs/targets.md'],
  },
  async check({ inventory, fs, report }) {
    const { images: found, unchecked } = await nestedImages(inventory, async (paths) => {
      const heads = await Promise.all(paths.map((p) => fs.readFile(p, { maxBytes: NESTED_HEAD, cache: false })));
      return new Map(paths.map((p, i) => [p, heads[i]?.data ?? null]));
    });
    for (const n of found) {
      report({
        path: n.entry.path,
        message: `${n.entry.path} is a ${n.description} inside the image; its contents were not audited (scan with --nested)`,
        evidence: `size=${n.entry.size}`,
      });
    }
    if (unchecked > 0) {
      report({
        path: '/',
        message: `${unchecked} more files that could be images were not checked for nested images (the first ${MAX_NESTED_CANDIDATES} were)`,
        evidence: `unchecked=${unchecked}`,
      });
    }
  },
});
