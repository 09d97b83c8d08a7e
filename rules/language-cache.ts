import { defineRule, homeDirs, humanBytes, joinPath, nonEmptyFilesUnder, plural, someNames } from '../src/engine/kit/index.js';

interface LanguageCache {
  /** Relative to a home directory. */
  dir: string;
  what: string;
}

/** What language package managers leave in the home of whoever ran them (root, in most image builds). */
export const LANGUAGE_CACHES: readonly LanguageCache[] = [
  { dir: '.npm/_cacache', what: "npm's download cache" },
  { dir: '.npm/_logs', what: "npm's debug logs (commands, registry URLs, paths of the build)" },
  { dir: '.cache/pip', what: "pip's download and wheel cache" },
  { dir: 'go/pkg/mod', what: "Go's module cache" },
  { dir: '.cache/go-build', what: "Go's build cache" },
  { dir: '.m2/repository', what: "Maven's local repository" },
  { dir: '.gradle/caches', what: "Gradle's dependency cache" },
  { dir: '.cache/yarn', what: "Yarn's package cache" },
  { dir: '.local/share/pnpm/store', what: "pnpm's content store" },
  { dir: '.cargo/registry', what: "Cargo's registry cache" },
  { dir: '.cache/composer', what: "Composer's cache" },
];

export default defineRule({
  meta: {
    id: 'language-cache',
    severity: 'warning',
    tags: ['session-residue'],
    description: 'Language package manager caches and logs in a home (npm _cacache/_logs, pip, Go, Maven, Gradle, Yarn, pnpm, Cargo)',
    remediation:
      'Installing with npm, pip, go, Maven or Gradle during the build filled their caches in the home of the user who ' +
      'ran them: megabytes to gigabytes in every copy of the image, and a record of what was fetched from where (npm ' +
      "logs hold the build's commands and paths). Clean them in the same step (npm cache clean --force && rm -rf " +
      '~/.npm/_logs; pip install --no-cache-dir; go clean -modcache -cache; rm -rf ~/.m2/repository ~/.gradle/caches), ' +
      'or mount a cache volume over them during the build (RUN --mount=type=cache).',
    references: ['https://docs.npmjs.com/cli/v9/commands/npm-cache', 'https://pip.pypa.io/en/stable/topics/caching/', 'https://go.dev/ref/mod#module-cache'],
  },
  check({ inventory, report }) {
    const homes = new Set<string>(['/root', ...homeDirs(inventory).map((h) => h.canonical)]);
    const done = new Set<string>();
    for (const home of homes) {
      for (const c of LANGUAGE_CACHES) {
        const dir = joinPath(home, c.dir);
        const r = inventory.resolve(dir);
        if (!r.ok || r.entry.type !== 'dir' || done.has(r.path)) continue;
        done.add(r.path);
        const files = nonEmptyFilesUnder(inventory, dir);
        if (files.length === 0) continue;
        const bytes = files.reduce((n, e) => n + e.size, 0);
        report({
          path: dir,
          message: `${dir} holds ${c.what}: ${plural(files.length, 'file')}, ${humanBytes(bytes)}`,
          evidence: someNames(files),
        });
      }
    }
  },
});
