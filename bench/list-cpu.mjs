#!/usr/bin/env node
// The native reader alone, timed in its own process: open the image, walk every filesystem into the inventory
// (src/backends/native/walk.ts), nothing else. Prints JSON: entries, problems, and `cpu`/`wall` in ms measured by
// process.cpuUsage() / performance.now() around the open and the walk only, so node's start-up and module loading
// are not counted (the reference tools' own start-up is a millisecond or two). `--repeat N` walks N times and keeps
// the fastest (a warm JIT; the first walk is the one a scan pays, so benches use the default 1).
//   node bench/list-cpu.mjs IMAGE [--repeat 1]
import path from 'node:path';
import { opt, repo } from './lib.mjs';

const m = await import(path.join(repo, 'dist', 'src', 'backends', 'native', 'index.js'));
const image = process.argv[2];
const repeat = opt('repeat', 1);
let best = null;
for (let i = 0; i < repeat; i++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const src = m.openNativeSource(image);
  const { views, problems } = await m.listNativeFilesystems(src);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1000;
  const r = { entries: views.reduce((a, v) => a + v.inventory.size, 0), problems: problems.length, cpu, wall };
  if (!best || r.cpu < best.cpu) best = r;
}
process.stdout.write(JSON.stringify(best));
