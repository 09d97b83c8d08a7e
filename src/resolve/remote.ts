/**
 * A target behind HTTP(S) (`hostleak scan https://host/nixos.qcow2`), resolved without downloading it:
 *   - a disk or filesystem image the native readers read (raw, qcow2, VHD, VHDX, sparse VMDK, VDI holding ext, vfat,
 *     xfs, squashfs, iso9660, erofs): opened as a random-access source over range requests (src/remote/source.ts),
 *     so only the bytes the readers and rules touch are transferred;
 *   - a tar archive, plain or compressed (rootfs tarballs, docker-archive, an OVA, GCE's disk.raw.tar.gz) and a
 *     compressed image: read as a stream, like a local one (src/resolve/stream.ts reads a URL's byte ranges), so a
 *     server without range support serves them too;
 *   - anything that needs the libguestfs appliance (a filesystem the native readers refuse, a vmdk descriptor) is
 *     refused by name: qemu never opens a URL, nor a copy of what one served. Images found inside (archive members,
 *     nested images) go to the native readers only, for the same reason.
 * Every failure of the server (404, 403, refused, a dropped connection, a file that changed mid-audit) ends the
 * target with the reason: exit 3, never clean.
 */
import { TargetError } from '../errors.js';
import type { Backend, OpenedImage, OpenOptions } from '../backends/backend.js';
import { nativeRefusalOf, openNativeOn, openNativePrepared } from '../backends/native-backend.js';
import { nativeContainer, nativeRefusal, openDiskContainer, type ByteSource } from '../backends/native/index.js';
import { decompressToTemp } from '../image/decompress.js';
import { compressionOf, detectBuffer, unrecognised } from '../image/detect.js';
import { decompressHead } from '../image/codecs.js';
import { withPreparedImage } from '../image/prepare.js';
import { currentReadLog } from '../image/readlog.js';
import { remoteInfo, remoteStats } from '../remote/files.js';
import { RemoteSource } from '../remote/source.js';
import { openStreamArchive } from './archive.js';
import { peekDecompressed, rangeStream, wholeFile } from './stream.js';
import { archiveFormat, type ArchiveFormat } from './archive-format.js';

/** What a refusal to start the appliance says: the remedy is the user's. */
const NEEDS_APPLIANCE = 'needs the appliance: download it';

/**
 * Image files found in a remote target (archive members and nested images, copied to temp files): the native
 * readers only, never backing files, never qemu.
 */
export function remoteImageBackend(): Backend {
  return {
    name: 'native',
    open(file, o) {
      const prep = { allowBackingFile: false, signal: o.signal, verbose: o.verbose, maxWrite: o.maxDecompressedBytes };
      return withPreparedImage(file, prep, async (prepared) => {
        const refusal = await nativeRefusalOf(prepared);
        if (refusal !== null) throw new TargetError(`${prepared.description}: ${refusal}: ${NEEDS_APPLIANCE}`);
        return openNativePrepared(prepared, o);
      });
    },
  };
}

/** The backend for a URL target (`--backend auto` or `native`). */
export function remoteBackend(): Backend {
  return { name: 'remote', open: openRemote };
}

function percent(part: number, whole: number | null): string {
  return whole ? ` of ${whole} (${((100 * part) / whole).toFixed(1)}%)` : '';
}

async function openRemote(url: string, o: OpenOptions): Promise<OpenedImage> {
  const info = await remoteInfo(url, o.signal);
  o.verbose?.(`remote: ${info.size ?? 'unknown'} bytes, ${info.ranges ? 'range requests' : 'no range requests (read as a stream)'}, ETag ${info.validator.etag ?? 'none'}`);
  const images = remoteImageBackend();
  const archive = (compression: Parameters<typeof openStreamArchive>[1], format: ArchiveFormat) =>
    openStreamArchive(url, compression, { ...o, openImage: (file, label) => images.open(file, { ...o, verbose: o.verbose && ((m) => o.verbose!(`${label}: ${m}`)) }) }, format);
  const done = (image: OpenedImage): OpenedImage => {
    const close = image.close.bind(image);
    return {
      ...image,
      async close() {
        await close();
        const s = remoteStats();
        o.verbose?.(`remote: ${s.bytes} bytes received${percent(s.bytes, info.size)} in ${s.requests} requests`);
      },
    };
  };
  const compression = compressionOf(info.head);
  if (compression) {
    const range = await wholeFile(url);
    const head =
      compression === 'bzip2'
        ? await peekDecompressed(range, compression, 512)
        : await decompressHead(compression, info.head, 512).catch(() => Buffer.alloc(0));
    const format = archiveFormat(head);
    if (format) return done(await archive(compression, format));
    // A compressed image: decompressed as it streams in, to a sparse temp file (the target's write cap), then read
    // natively like a local one.
    const d = await decompressToTemp(url, compression, { input: rangeStream(range), signal: o.signal, maxWrite: o.maxDecompressedBytes });
    o.verbose?.(`decompressed ${compression} to ${d.path} (${d.size} bytes)`);
    try {
      const image = await images.open(d.path, o);
      const close = image.close.bind(image);
      return done({ ...image, close: () => close().finally(d.cleanup) });
    } catch (err) {
      d.cleanup();
      throw err instanceof TargetError ? new TargetError(`inside the ${compression} stream: ${err.message}`) : err;
    }
  }
  const format = archiveFormat(info.head);
  if (format) return done(await archive(null, format));
  const fmt = detectBuffer(info.head, info.tail ?? undefined);
  if (!fmt || fmt.kind !== 'image') throw unrecognised(info.head);
  if (!info.ranges || info.size === null) {
    throw new TargetError(`${fmt.description}: the server does not answer range requests, and a disk image is read by random access: download it`);
  }
  if (!nativeContainer(fmt.container)) throw new TargetError(`${fmt.description}: ${NEEDS_APPLIANCE}`);
  const remote = new RemoteSource({ url, size: info.size, validator: info.validator, head: info.head, deadline: o.deadline });
  const release = () => {
    remote.close();
    const s = remoteStats();
    s.bytes += remote.bytes;
    s.requests += remote.requests;
    remote.bytes = 0;
    remote.requests = 0;
  };
  let disk: ByteSource;
  try {
    disk = openDiskContainer(remote, fmt.container);
    const refusal = await nativeRefusal(disk);
    // The probe takes a failed read for an unknown filesystem: a server that failed is the reason, not the format.
    if (remote.lostReason) throw remote.lostReason;
    if (refusal !== null) throw new TargetError(`${fmt.description}: ${refusal}: ${NEEDS_APPLIANCE}`);
  } catch (err) {
    release();
    throw err;
  }
  o.verbose?.(fmt.description);
  // Under --cache: the remote image as is, read through the source that records its reads.
  currentReadLog()?.nativeOpened(url, false, 0);
  try {
    return done(await openNativeOn(disk, o, release));
  } catch (err) {
    release();
    throw err;
  }
}
