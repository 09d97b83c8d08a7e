// An mkfs.xfs protofile (`mkfs.xfs -p FILE`) describing a host tree: directories, regular files (their content
// copied from the host), symlinks and fifos, with each entry's owner and permission bits. The protofile format has
// no sticky bit, so protoMode says which mode bits an entry gets in the image. Used by the xfs tests and the bench;
// `node images-sample/xfs-proto.mjs TREE > PROTO` prints one.
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The permission bits a protofile can express: setuid, setgid and rwx (not sticky). */
export function protoMode(mode) {
  return mode & 0o6777;
}

export function protofile(root) {
  const mode = (m) => (m & 0o4000 ? 'u' : '-') + (m & 0o2000 ? 'g' : '-') + (m & 0o777).toString(8).padStart(3, '0');
  const st0 = lstatSync(root);
  // The first token names a boot image (unused), then block and inode counts (0: mkfs decides).
  const out = ['/dev/null', '0 0', `d${mode(st0.mode)} ${st0.uid} ${st0.gid}`];
  const dir = (p, depth) => {
    for (const name of readdirSync(p).sort()) {
      if (/\s/.test(name)) throw new Error(`a protofile cannot name ${JSON.stringify(name)}`);
      const f = path.join(p, name);
      const st = lstatSync(f);
      const head = `${' '.repeat(depth)}${name} `;
      const own = `${st.uid} ${st.gid}`;
      if (st.isDirectory()) {
        out.push(`${head}d${mode(st.mode)} ${own}`);
        dir(f, depth + 1);
        out.push(`${' '.repeat(depth)}$`);
      } else if (st.isSymbolicLink()) out.push(`${head}l${mode(st.mode)} ${own} ${readlinkSync(f)}`);
      else if (st.isFIFO()) out.push(`${head}p${mode(st.mode)} ${own}`);
      else if (st.isFile()) out.push(`${head}-${mode(st.mode)} ${own} ${f}`);
    }
  };
  dir(root, 1);
  out.push('$');
  return out.join('\n') + '\n';
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.write(protofile(process.argv[2]));
}
