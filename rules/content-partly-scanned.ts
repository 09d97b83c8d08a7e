import { aggregate, defineRule, type Entry, textCandidates, textScanOptions, TEXT_SCAN_OPTIONS } from '../src/engine/kit/index.js';

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(n % (1024 * 1024) === 0 ? 0 : 1)} MiB`;

export default defineRule({
  meta: {
    id: 'content-partly-scanned',
    options: { ...TEXT_SCAN_OPTIONS },
    severity: 'info',
    tags: ['coverage'],
    description: 'Text files larger than the content-scan limit: only their first part was searched for secrets and leaks',
    remediation:
      'Nothing leaked by itself: the content rules (secret-token, private-key, build-path-reference, ' +
      'host-identity-reference) read the first maxTextBytes of each file (default 1 MiB). Raise maxTextBytes for ' +
      'those rules in the config to search such files whole, or check them by hand.',
    references: [],
  },
  check({ inventory, options, report }) {
    const opts = textScanOptions(options);
    const big = new Map<string, Entry>();
    for (const e of textCandidates(inventory, opts)) if (e.size > opts.maxBytes) big.set(e.path, e);
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
  },
});
