/**
 * V8 heap tuning for the CLI process, imported first by the entry point (library callers keep their own settings).
 *
 * An audit builds one large long-lived inventory (names, link targets) while reading. Everything that survives a
 * young-generation collection makes V8 double the young generation, up to 2 x 16 MiB on 64-bit: the survivors are
 * the inventory itself, so the growth buys nothing but resident memory. Holding the young generation at its start
 * size keeps the audit of a 147k-entry image near 105 MiB peak RSS instead of ~130 MiB, at the same CPU time
 * (bench/native.mjs measures both). A user's own `--max-semi-space-size` / `--semi-space-growth-factor` (on the
 * command line or in NODE_OPTIONS) wins.
 */
import v8 from 'node:v8';

const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => /semi[-_]space/.test(a));
if (!given) v8.setFlagsFromString('--semi-space-growth-factor=1');
