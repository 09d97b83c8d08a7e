// Preloaded into a benchmarked node process (`node --import bench/rss-probe.mjs ...`): at exit, writes the process's
// peak resident set size (KiB) to the file named by HOSTLEAK_BENCH_RSS_FILE.
import { writeFileSync } from 'node:fs';

const file = process.env.HOSTLEAK_BENCH_RSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
