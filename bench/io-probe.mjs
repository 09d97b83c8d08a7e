// Preloaded into a benchmarked node process (`node --import bench/io-probe.mjs ...`): at exit, writes the bytes the
// process read through read(2) and friends (`rchar` of /proc/self/io: page cache hits included, the decompressors it
// spawns not) to the file named by HOSTLEAK_BENCH_IO_FILE. Unlike times, independent of the machine's load.
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.env.HOSTLEAK_BENCH_IO_FILE;
if (file) {
  process.on('exit', () => {
    const rchar = /^rchar:\s*(\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? '';
    writeFileSync(file, rchar);
  });
}
