#!/usr/bin/env node
// The CLI as one bundled script (run by `npm run build`, after tsc): node compiles one file instead of resolving and
// compiling ~160 ES modules, and the file is CommonJS so src/bin/compile-cache.ts can compile it through V8's code
// cache (node 20 has no compile cache for ES modules). docs/performance.md, `node bench/startup.mjs`.
//
// dist/src/bin/hostleak.cjs holds src/main.ts and everything it reaches, each module still initialised when first
// imported (the commands, the readers, the reporters: `import()` becomes a lazy init in the bundle), so `--version`
// runs no reader's or rule's top level. Packages stay external, except BUNDLED_PACKAGES below. dist/src/bin/hostleak.js
// stays tsc's small entry that loads the bundle, CommonJS like all of dist/src/bin (this copies src/bin/package.json
// there: tsc does not); everything else under dist/ is tsc's output as before: the `hostleak/kit` export and the
// tests' imports do not go through the bundle.
import { build } from 'esbuild';
import { copyFileSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'dist/src/bin');
const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8'));
// Bundled: the ES-only package a CommonJS script cannot require on every node 20 (chalk), and the small pure
// CommonJS ones every scan loads (resolving each from node_modules and compiling it without the code cache cost
// ~20 ms of a small scan). The rest load on first use from node_modules (src/lazy.ts).
const BUNDLED_PACKAGES = ['chalk', 'picomatch', 'string-width', 'wrap-ansi', 'fzstd'];
// The chunks of the earlier ES-module bundle, and the entry's ES-module half from before src/bin was CommonJS.
rmSync(path.join(bin, 'chunks'), { recursive: true, force: true });
for (const f of ['main.js', 'main.js.map', 'main.d.ts']) rmSync(path.join(bin, f), { force: true });
// Without it node would take the CommonJS entry (tsc's output of src/bin) for an ES module ("type": "module").
copyFileSync(path.join(repo, 'src/bin/package.json'), path.join(bin, 'package.json'));

const out = path.join(bin, 'hostleak.cjs');
// src/lazy.ts makes its `require` with node:module's createRequire. Inside this CommonJS script the wrapper's own
// `require` does the same (src/bin/compile-cache.ts passes the loader's, which resolves from dist/src/bin, where
// import.meta.url points here) without loading node:module and node's ES-module loader with it (~1 ms a run).
const ownRequire = {
  name: 'own-require',
  setup(b) {
    b.onResolve({ filter: /^node:module$/ }, (args) =>
      path.basename(args.importer) === 'lazy.js' ? { path: 'own-require', namespace: 'own-require' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'own-require' }, () => ({ contents: 'export const createRequire = () => require;', loader: 'js' }));
  },
};
const result = await build({
  entryPoints: [path.join(repo, 'dist/src/main.js')],
  outfile: out,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: Object.keys(pkg.dependencies ?? {}).filter((p) => !BUNDLED_PACKAGES.includes(p)).flatMap((p) => [p, `${p}/*`]),
  // ES-module code inside a CommonJS script: strict as before, and import.meta.url is the script's own URL.
  banner: { js: '"use strict";\nconst __import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  define: { 'import.meta.url': '__import_meta_url' },
  logLevel: 'warning',
  metafile: true,
  plugins: [ownRequire],
});
// The script runs as a vm.Script without an import() callback (src/bin/compile-cache.ts): a package loaded by import()
// would fail there at run time, so the build stops here instead (load it statically or through src/lazy.ts).
const [, meta] = Object.entries(result.metafile.outputs).find(([file]) => path.resolve(file) === out);
const dynamic = meta.imports.filter((i) => i.kind === 'dynamic-import' && i.external);
if (dynamic.length > 0) throw new Error(`bundle: import() of ${dynamic.map((i) => i.path).join(', ')} left in the CommonJS script`);
// src/bin/compile-cache.ts reads the script as latin1 (a plain copy, ~1 ms less than decoding UTF-8): esbuild escapes
// every non-ASCII character (charset: ascii), and this keeps it so.
if (/[^\x00-\x7f]/.test(readFileSync(out, 'latin1'))) throw new Error('bundle: dist/src/bin/hostleak.cjs is not ASCII');
console.error(`bundle: dist/src/bin/hostleak.cjs (${(statSync(out).size / 1024).toFixed(0)} KiB)`);
