/**
 * Container images: docker-archive (`docker save`, nixpkgs dockerTools: manifest.json, a config JSON, one tar per
 * layer), OCI image layouts (oci-layout, index.json -> manifest -> config + layers) and docker-dir folders
 * (`podman save --format docker-dir`, `buildah push IMG dir:PATH`, `skopeo copy ... dir:PATH`: manifest.json is the
 * image's manifest, blobs are named by their hex digest), as a directory or a tar.
 *
 * Layers are applied in order with OCI whiteouts (`.wh.<name>`, `.wh..wh..opq`) into one root, which every rule
 * audits. What a whiteout or a later member deleted or replaced (in a later layer, or earlier in the same one: a
 * duplicate name) still ships in its layer's tar: those files form one extra root per layer, named by the layer's
 * digest, that the secret rules audit; each finding there says "shipped but hidden" and where. The image config's Env, Cmd,
 * Entrypoint, Labels and history are a small root of text files (`config:/Env` ...) for the same rules.
 * Every blob is checked against the digest that names it (manifest, config and layers; docker-archive layers
 * against the config's diff_ids): a mismatch is exit 3.
 */
import { promises as fsp } from 'node:fs';
import { nodeCrypto } from '../lazy.js';
import { TargetError } from '../errors.js';
import type { FileContent, ImageRoot } from '../types.js';
import type { OpenedImage, OpenOptions } from '../backends/backend.js';
import type { Entry, FilesystemInfo } from '../types.js';
import { boundaryOf, BoundaryError } from './boundary.js';
import { combineImages, describeReads, hiddenRoots, inventoryWithParents, keepBudget, KEEP_PER_FILE, listingSinks, treeRoot } from './opened.js';
import type { LayoutKind } from './shape.js';
import { readRange, tarSource, type FileRange, type TarSource } from './stream.js';
import { compressionOf, type Compression } from '../image/detect.js';
import { HeadJudge } from './nested.js';
import { teeSinks, walkTar, type TarEntry } from './tar.js';
import { ContentStore, contentOf, TreeBuilder, type ContentRef } from './tree.js';

/**
 * One blob: a byte range of a host file (a layout, an archive member), or a blob a registry serves. `read` gives
 * bytes by offset (the head, a small JSON document), `source` the whole blob as a tar stream.
 */
export interface Blob {
  length: number;
  read(start: number, len: number): Promise<Buffer>;
  source(compression: Compression | null): TarSource;
}

/** Named blobs of a layout: `manifest.json`, `blobs/sha256/<hex>` ... (a registry names them by digest). */
export interface BlobStore {
  get(name: string): Promise<Blob | null>;
}

/** A byte range of a host file as a blob. */
export function fileBlob(r: FileRange): Blob {
  return { length: r.length, read: (start, len) => readRange(r, start, len), source: (c) => tarSource(r, c) };
}

const MAX_JSON = 16 * 1024 * 1024;
const DIGEST = /^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$/;

/** Members of a plain tar as blobs (a member is an offset range of the archive file). */
export function tarBlobs(range: FileRange, members: Map<string, TarEntry>): BlobStore {
  return {
    async get(name) {
      const e = members.get(name);
      if (!e) return null;
      if (e.sparse) throw new TargetError(`${name}: a sparse member cannot be a container blob`);
      const ext = e.extents[0];
      return fileBlob({ file: range.file, start: range.start + (ext?.stored ?? 0), length: ext?.length ?? 0 });
    },
  };
}

/** Files of an OCI layout directory as blobs, through the host boundary (nothing outside the folder is opened). */
export function dirBlobs(dir: string): BlobStore {
  const boundary = boundaryOf(dir);
  return {
    async get(name) {
      const host = await (await boundary).resolve(name).catch((err: unknown) => {
        if (err instanceof BoundaryError && /does not resolve/.test(err.message)) return null;
        throw err;
      });
      if (!host) return null;
      const st = await fsp.lstat(host);
      if (!st.isFile()) throw new TargetError(`${name}: not a regular file in the layout`);
      return fileBlob({ file: host, start: 0, length: st.size });
    },
  };
}

async function blobBytes(store: BlobStore, name: string, what: string): Promise<Buffer> {
  const r = await store.get(name);
  if (!r) throw new TargetError(`${what} ${name} is missing`);
  if (r.length > MAX_JSON) throw new TargetError(`${what} ${name} is implausibly large (${r.length} bytes)`);
  return r.read(0, r.length);
}

/** Deepest nesting of arrays and objects a manifest, index or config may have (real ones have under 10). */
export const MAX_JSON_DEPTH = 64;

/**
 * How deep `buf` nests arrays and objects, counted on the bytes before parsing (outside strings), stopping once it
 * passes `limit`: whatever walks the parsed value later (String() of an array, the rules) recurses that deep.
 */
export function jsonDepth(buf: Buffer, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

export function parseJson(buf: Buffer, what: string): unknown {
  if (jsonDepth(buf) > MAX_JSON_DEPTH) throw new TargetError(`${what} nests deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    throw new TargetError(`${what} is not valid JSON`);
  }
}

/** What to do about bytes that do not match their descriptor (appended to the error: the target is not audited). */
export const DAMAGED = 'the image was damaged or altered after it was built: copy or build it again (skopeo copy and podman pull check digests)';

export function checkDigest(buf: Buffer, digest: string, what: string): void {
  const m = DIGEST.exec(digest);
  if (!m) throw new TargetError(`${what}: unsupported digest '${digest.slice(0, 80)}'`);
  const got = nodeCrypto().createHash(m[1]!).update(buf).digest('hex');
  if (got !== m[2]) throw new TargetError(`${what}: digest mismatch (manifest says ${digest}, content is ${m[1]}:${got}); ${DAMAGED}`);
}

function blobName(digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new TargetError(`unsupported digest '${digest.slice(0, 80)}'`);
  return `blobs/${m[1]}/${m[2]}`;
}

interface LayerSpec {
  name: string;
  /** Digest of the blob as stored (OCI descriptors; docker-archive blobs/sha256 names). */
  rawDigest?: string;
  /** Digest of the uncompressed tar (docker-archive config rootfs.diff_ids). */
  tarDigest?: string;
  /** Size of the blob as stored, when a descriptor says it (OCI, Docker v2 manifests). */
  size?: number;
  label: string;
}

interface ImageSpec {
  label: string;
  config: Record<string, unknown>;
  layers: LayerSpec[];
}

const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

async function dockerImages(store: BlobStore): Promise<ImageSpec[]> {
  const manifest = parseJson(await blobBytes(store, 'manifest.json', 'docker-archive manifest'), 'manifest.json');
  // A tar of a docker-dir folder has a manifest.json too: the image's own manifest, not a list of images.
  if (manifestLayout(manifest) === 'docker-dir') return dockerDirImages(store, manifest);
  if (!Array.isArray(manifest) || manifest.length === 0) throw new TargetError('manifest.json lists no image');
  const out: ImageSpec[] = [];
  for (const [i, m] of manifest.entries()) {
    const cfgName = str(obj(m).Config);
    const layers = arr(obj(m).Layers).map(str);
    if (!cfgName || layers.some((l) => l === undefined)) throw new TargetError(`manifest.json image ${i + 1}: no Config or bad Layers`);
    const cfgBytes = await blobBytes(store, cfgName, 'image config');
    const named = /^(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json)?$/.exec(cfgName);
    if (named) checkDigest(cfgBytes, `sha256:${named[1]}`, `image config ${cfgName}`);
    const config = obj(parseJson(cfgBytes, `image config ${cfgName}`));
    const diffIds = arr(obj(config.rootfs).diff_ids).map(str);
    if (diffIds.length !== layers.length) {
      throw new TargetError(`image config lists ${diffIds.length} layer digests but manifest.json lists ${layers.length} layers`);
    }
    out.push({
      label: str(arr(obj(m).RepoTags)[0]) ?? `image ${i + 1}`,
      config,
      layers: layers.map((name, k) => {
        const blob = /^blobs\/(sha256)\/([a-f0-9]{64})$/.exec(name!);
        const rawDigest = blob ? `${blob[1]}:${blob[2]}` : undefined;
        return { name: name!, rawDigest, tarDigest: diffIds[k], label: rawDigest ?? diffIds[k] ?? name! };
      }),
    });
  }
  return out;
}

const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];

/**
 * The images a list of manifest descriptors names (an OCI index, a manifest list), through nested indexes. `pathOf`
 * names where a digest's blob is in the layout (`blobs/sha256/<hex>` in an OCI layout, `<hex>` in a docker-dir),
 * `manifestPathOf` where a listed manifest is (a docker-dir keeps them as `<hex>.manifest.json`).
 */
async function listedImages(
  store: BlobStore,
  descs: unknown[],
  pathOf: (digest: string) => string,
  manifestPathOf: (digest: string) => string = pathOf,
): Promise<ImageSpec[]> {
  const out: ImageSpec[] = [];
  const visit = async (list: unknown[], depth: number): Promise<void> => {
    if (depth > 4) throw new TargetError('the image index nests too deep');
    for (const d of list) {
      const desc = obj(d);
      const digest = str(desc.digest);
      if (!digest) throw new TargetError('a manifest descriptor without a digest');
      const bytes = await blobBytes(store, manifestPathOf(digest), 'manifest');
      checkDigest(bytes, digest, `manifest ${digest}`);
      const doc = obj(parseJson(bytes, `manifest ${digest}`));
      if (isIndex(doc, str(desc.mediaType))) {
        await visit(arr(doc.manifests), depth + 1);
        continue;
      }
      const ref = str(obj(desc.annotations)['org.opencontainers.image.ref.name']);
      out.push(await manifestImage(store, doc, ref ?? digest, pathOf));
    }
  };
  await visit(descs, 0);
  if (out.length === 0) throw new TargetError('the image index names no image');
  return out;
}

export function isIndex(doc: Record<string, unknown>, mediaType?: string): boolean {
  return INDEX_TYPES.includes(mediaType ?? str(doc.mediaType) ?? '') || (Array.isArray(doc.manifests) && !Array.isArray(doc.layers));
}

/** One image manifest (OCI or Docker v2 schema 2): its config and layers, blobs named by `pathOf`. */
async function manifestImage(store: BlobStore, doc: Record<string, unknown>, label: string, pathOf: (digest: string) => string): Promise<ImageSpec> {
  const cfgDigest = str(obj(doc.config).digest);
  if (!cfgDigest) throw new TargetError(`manifest ${label} has no config`);
  const cfgBytes = await blobBytes(store, pathOf(cfgDigest), 'image config');
  checkDigest(cfgBytes, cfgDigest, `image config ${cfgDigest}`);
  return {
    label,
    config: obj(parseJson(cfgBytes, `image config ${cfgDigest}`)),
    layers: arr(doc.layers).map((l) => {
      const ld = str(obj(l).digest);
      if (!ld) throw new TargetError(`manifest ${label}: a layer without a digest`);
      const size = obj(l).size;
      return { name: pathOf(ld), rawDigest: ld, label: ld, size: typeof size === 'number' ? size : undefined };
    }),
  };
}

async function ociImages(store: BlobStore): Promise<ImageSpec[]> {
  const index = obj(parseJson(await blobBytes(store, 'index.json', 'OCI index'), 'index.json'));
  return listedImages(store, arr(index.manifests), blobName);
}

/**
 * The docker-dir layout (containers/image's `dir:` transport: `podman save --format docker-dir`, `buildah push
 * IMG dir:PATH`, `skopeo copy ... dir:PATH`): `manifest.json` is the image's own manifest (OCI or Docker v2 schema
 * 2), or a manifest list whose manifests are `<hex>.manifest.json`; every blob is a file named by its digest's hex.
 */
async function dockerDirImages(store: BlobStore, manifest?: unknown): Promise<ImageSpec[]> {
  const bytes = manifest === undefined ? await blobBytes(store, 'manifest.json', 'docker-dir manifest') : null;
  const doc = obj(manifest ?? parseJson(bytes!, 'manifest.json'));
  const hexOf = (digest: string) => {
    const m = DIGEST.exec(digest);
    if (!m) throw new TargetError(`unsupported digest '${digest.slice(0, 80)}'`);
    return m[2]!;
  };
  if (isIndex(doc)) return listedImages(store, arr(doc.manifests), hexOf, (d) => `${hexOf(d)}.manifest.json`);
  return [await manifestImage(store, doc, 'image', hexOf)];
}

/** What a `manifest.json` says the layout is: a docker-archive's list of images, or a docker-dir's manifest. */
export function manifestLayout(manifest: unknown): 'docker-archive' | 'docker-dir' | null {
  if (Array.isArray(manifest)) return manifest.length > 0 && manifest.every((m) => obj(m).Config !== undefined) ? 'docker-archive' : null;
  const doc = obj(manifest);
  return doc.schemaVersion === 2 && (obj(doc.config).digest !== undefined || Array.isArray(doc.manifests)) ? 'docker-dir' : null;
}

/** A root of small text files from strings (the image config). */
function textRoot(prefix: string, files: Array<[string, string]>, fs: string): ImageRoot {
  const data = new Map(files.map(([p, t]) => [p, Buffer.from(t, 'utf8')]));
  const entries: Entry[] = [...data].map(([p, b]) => ({ path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, size: b.length, mtime: 0, fs }));
  return {
    prefix,
    inventory: inventoryWithParents(entries, fs),
    ruleTags: ['secret'],
    async readFiles(paths, maxBytes) {
      const out = new Map<string, FileContent | Error>();
      for (const p of paths) {
        const b = data.get(p);
        out.set(p, b ? contentOf(b, b.length, maxBytes) : new Error(`${p}: no such file`));
      }
      return out;
    },
  };
}

function configFiles(config: Record<string, unknown>): Array<[string, string]> {
  const c = obj(config.config);
  const lines = (v: unknown) => arr(v).map((x) => String(x)).join('\n');
  const files: Array<[string, string]> = [];
  if (arr(c.Env).length) files.push(['/Env', lines(c.Env) + '\n']);
  if (arr(c.Cmd).length) files.push(['/Cmd', lines(c.Cmd) + '\n']);
  if (arr(c.Entrypoint).length) files.push(['/Entrypoint', lines(c.Entrypoint) + '\n']);
  const labels = Object.entries(obj(c.Labels));
  if (labels.length) files.push(['/Labels', labels.map(([k, v]) => `${k}=${String(v)}`).join('\n') + '\n']);
  const history = arr(config.history).map((h) => str(obj(h).created_by) ?? '');
  if (history.some((h) => h !== '')) files.push(['/history', history.join('\n') + '\n']);
  return files;
}

async function openOne(store: BlobStore, spec: ImageSpec, opts: OpenOptions): Promise<OpenedImage> {
  const labelOf = (i: number) => spec.layers[i]?.label ?? 'layer';
  const tree = new TreeBuilder(labelOf, (i) => `layer ${i + 1} (${labelOf(i)})`);
  const keep = new ContentStore(keepBudget(), KEEP_PER_FILE, opts.signal);
  const heads = new HeadJudge<ContentRef>((ref, head) => keep.hold(ref, head));
  const sources: TarSource[] = [];
  for (const [i, layer] of spec.layers.entries()) {
    const range = await store.get(layer.name);
    if (!range) throw new TargetError(`layer ${i + 1} (${layer.name}) is missing`);
    const compression = compressionOf(await range.read(0, 16));
    const src = range.source(compression);
    sources.push(src);
    // An uncompressed layer's blob is its tar: one digest over its bytes serves for both.
    const raw = compression ? nodeCrypto().createHash('sha256') : null;
    const tar = nodeCrypto().createHash('sha256');
    let rawBytes = 0;
    const started = Date.now();
    async function* hashed(): AsyncGenerator<Buffer> {
      for await (const c of src.open({ tap: (b) => (raw?.update(b), (rawBytes += b.length)), signal: opts.signal })) {
        tar.update(c);
        yield c;
      }
    }
    try {
      const walked = await walkTar(hashed(), {
        drain: true,
        signal: opts.signal,
        onEntry(e) {
          const placed = tree.apply(e, i, { whiteouts: true });
          return placed ? teeSinks(listingSinks(placed, heads, keep, opts.expectedRead)) : null;
        },
      });
      heads.settle();
      for (const p of walked.problems) tree.problems.push(`layer ${i + 1}: ${p}`);
    } catch (err) {
      if (err instanceof TargetError) throw new TargetError(`layer ${i + 1} (${layer.label}): ${err.message}`);
      throw err;
    }
    const check = (want: string | undefined, got: string, what: string) => {
      if (!want) return;
      if (!want.startsWith('sha256:')) throw new TargetError(`layer ${i + 1}: unsupported digest '${want.slice(0, 80)}'`);
      if (got !== want) throw new TargetError(`layer ${i + 1} (${layer.name}): ${what} digest mismatch (manifest says ${want}, content is ${got}); ${DAMAGED}`);
    };
    if (layer.size !== undefined && rawBytes !== layer.size) {
      throw new TargetError(`layer ${i + 1} (${layer.name}): size mismatch (manifest says ${layer.size} bytes, the blob has ${rawBytes}); ${DAMAGED}`);
    }
    const tarDigest = `sha256:${tar.digest('hex')}`;
    check(layer.rawDigest, raw ? `sha256:${raw.digest('hex')}` : tarDigest, 'blob');
    check(layer.tarDigest, tarDigest, 'diff_id');
    opts.verbose?.(`layer ${i + 1}/${spec.layers.length} ${layer.label}: applied in ${Date.now() - started} ms${compression ? ` (${compression})` : ''}`);
  }
  const { inventory, refOf, hidden } = tree.seal();
  const roots: ImageRoot[] = [treeRoot({ prefix: null, inventory, refOf, sources, store: keep, notAnImage: (r) => heads.notAnImage(r) })];
  // Files a whiteout or a later member deleted or replaced (in a later layer or the same one): their layer ships them.
  roots.push(...hiddenRoots(hidden, labelOf, tree.placeOf, sources, keep));
  const cfg = configFiles(spec.config);
  if (cfg.length > 0) roots.push(textRoot('config', cfg, 'config'));
  const filesystems: FilesystemInfo[] = spec.layers.map((l) => ({ device: l.label, type: 'layer', label: null, mountpoint: '/' }));
  return {
    backend: 'container',
    filesystems,
    roots,
    problems: tree.problems,
    async close() {
      await keep.close();
      opts.verbose?.(`${spec.label}: ${describeReads(keep, sources)}`);
    },
  };
}

/**
 * The image one manifest (OCI or Docker v2 schema 2) describes, its blobs from `store` named by their digests (a
 * registry's): config and layers checked and applied as for every other layout. `label` names it (the manifest's
 * digest).
 */
export async function openManifest(store: BlobStore, doc: Record<string, unknown>, label: string, opts: OpenOptions): Promise<OpenedImage> {
  const spec = await manifestImage(store, doc, label, (digest) => digest);
  opts.verbose?.(`image ${label}: ${spec.layers.length} layers`);
  return openOne(store, spec, opts);
}

export async function openContainer(store: BlobStore, layout: LayoutKind, opts: OpenOptions): Promise<OpenedImage> {
  const specs = layout === 'oci-layout' ? await ociImages(store) : layout === 'docker-dir' ? await dockerDirImages(store) : await dockerImages(store);
  opts.verbose?.(`${layout}: ${specs.length} image(s), ${specs.map((s) => `${s.label} (${s.layers.length} layers)`).join(', ')}`);
  const parts: Array<{ label: string; image: OpenedImage }> = [];
  for (const s of specs) parts.push({ label: s.label, image: await openOne(store, s, opts) });
  return combineImages(parts);
}
