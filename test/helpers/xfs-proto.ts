/** The mkfs.xfs protofile of a host tree (images-sample/xfs-proto.mjs, shared with the bench), typed for the tests. */
// @ts-expect-error plain ESM script without types
import { protofile as proto, protoMode as mode } from '../../images-sample/xfs-proto.mjs';

/** The protofile text describing `root` (directories, files, symlinks, fifos; owners and modes without sticky). */
export const protofile: (root: string) => string = proto;
/** The permission bits an entry gets through a protofile (setuid, setgid, rwx; no sticky bit). */
export const protoMode: (mode: number) => number = mode;
