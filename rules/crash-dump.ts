import {
  defineRule,
  humanBytes,
  isStorePath,
  nonEmptyFilesUnder,
  plural,
  someNames,
  entriesNamed,
} from '../src/engine/kit/index.js';

/** Where crash handlers keep their dumps: kdump/apport, systemd-coredump, ABRT. */
const DIRS = ['/var/crash', '/var/lib/systemd/coredump', '/var/spool/abrt', '/var/tmp/abrt', '/var/lib/apport/coredump'];
/** Names the kernel gives core files (core_pattern `core`, `core.%p`) and BSD's `<prog>.core`. */
const CORE_NAME = /^(?:core(?:\.[0-9]+)?|.+\.core)$/;
/** An ELF file whose type is ET_CORE (4). */
function isElfCore(d: Buffer): boolean {
  if (d.length < 18 || d.readUInt32BE(0) !== 0x7f454c46) return false;
  return (d[5] === 2 ? d.readUInt16BE(16) : d.readUInt16LE(16)) === 4;
}

export default defineRule({
  meta: {
    id: 'crash-dump',
    severity: 'warning',
    tags: ['session-residue', 'secret'],
    description: 'Crash dumps from the build: /var/crash, systemd-coredump, ABRT, apport, or ELF core files anywhere',
    remediation:
      'A program crashed while the image was built and its memory was saved: core dumps hold whatever the process ' +
      'had in memory (environment, tokens, keys) and take space in every copy of the image. Find out why it ' +
      'crashed, then remove the dumps at the end of the build (virt-sysprep --operations crash-data,abrt-data).',
    references: ['https://libguestfs.org/virt-sysprep.1.html', 'https://www.freedesktop.org/software/systemd/man/latest/systemd-coredump.html'],
  },
  async check({ inventory, fs, report }) {
    const inDirs = new Set<string>();
    for (const d of DIRS) {
      const files = nonEmptyFilesUnder(inventory, d);
      for (const f of files) inDirs.add(f.path);
      if (files.length === 0) continue;
      const bytes = files.reduce((n, e) => n + e.size, 0);
      report({ path: d, message: `${d} holds ${plural(files.length, 'crash dump file')} (${humanBytes(bytes)}) from the build`, evidence: someNames(files) });
    }
    const named = entriesNamed(inventory, (n) => CORE_NAME.test(n)).filter((e) => e.type === 'file' && e.size > 0 && !inDirs.has(e.path) && !isStorePath(e.path));
    await Promise.all(
      named.map(async (e) => {
        const r = await fs.readFile(e.path, { maxBytes: 64, cache: false });
        if (r && isElfCore(r.data)) report({ path: e.path, message: `${e.path} is an ELF core dump (${humanBytes(e.size)}) of a process that crashed during the build`, evidence: `${e.size} bytes, owner uid=${e.uid}` });
      }),
    );
  },
});
