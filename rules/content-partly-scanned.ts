import { aggregate, defineRule, type Entry, passFiles, textScanOptions } from '../src/engine/kit/index.js';

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(n % (1024 * 1024) === 0 ? 0 : 1)} MiB`;

export default defineRule({
  // In the content pass (its options, so it sees the files the pass reads), though it reads none itself.
  readsText: true,
  meta: {
    id: 'content-partly-scanned',
    severity: 'info',
    tags: ['coverage'],
    description:
      'Text files larger than the content-scan limit: only their first part was searched for secrets and leaks ' +
      '(and, under --trust-packages, how many packaged files were not searched at all)',
    remediation:
      'Nothing leaked by itself: the content rules (secret-token, private-key, build-path-reference, ' +
      'host-identity-reference) read the first maxTextBytes of each file (default 1 MiB). Raise maxTextBytes for ' +
      'those rules in the config to search such files whole, or check them by hand.',
    references: [],
  },
  async check({ inventory, options, report, packages }) {
    const opts = textScanOptions(options);
    const { files, trusted } = await passFiles(inventory, opts, packages);
    const big = new Map<string, Entry>();
    for (const e of files) if (e.size > opts.maxBytes) big.set(e.path, e);
    for (const g of aggregate(big.keys())) {
      const e = big.get(g.path);
      report({
        path: g.path,
        message:
          e && !g.merged
            ? `${g.path} (${mib(e.size)}) is larger than the content-scan limit: only its first ${mib(opts.maxBytes)} was searched`
            : `${g.count} files below ${g.path} are larger than the content-scan limit: only their first ${mib(opts.maxBytes)} was searched`,
        evidence: e && !g.merged ? `size=${e.size}` : `${g.count} files`,
      });
    }
    if (trusted.length > 0) {
      report({
        path: '/',
        message:
          `${trusted.length} files a package installed with a recorded checksum were not searched (--trust-packages): ` +
          'a change made to one of them after install goes unseen',
        evidence: `trusted=${trusted.length}`,
      });
    } else if (opts.trustPackages) {
      // Asked to trust the packages, on an image whose database we cannot read (rpm) or that has none: say so.
      const db = await packages();
      if (db.read.length === 0) {
        report({
          path: '/',
          message: `--trust-packages left every file to be searched: ${db.notes[0] ?? 'the image has no dpkg, apk or rpm database'}`,
          evidence: 'trusted=0',
        });
      }
    }
  },
});
