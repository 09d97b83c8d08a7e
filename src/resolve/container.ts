/**
 * Container images: docker-archive (`docker save`, nixpkgs dockerTools: manifest.json, a config JSON, one tar per
 * layer) and OCI image layouts (oci-layout, index.json -> manifest -> config + layers), as a directory or a tar.
 *
 * Layers are applied in order with OCI whiteouts (`.wh.<name>`, `.wh..wh..opq`) into one root, which every rule
 * audits. What a later layer deleted or replaced still ships in the lower layer's tar: those files form one extra
 * root per layer, named by the layer's digest, that the secret rules audit. The image config's Env, Cmd,
 * Entrypoint, Labels and history are a small root of text files (`config:/Env` ...) for the same rules.
 * Every blob is checked against the digest that names it (manifest, config and layers; docker-archive layers
 * against the config's diff_ids): a mismatch is exit 3.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { TargetError } from '../errors.js';
import type { FileContent, ImageRoot } from '../types.js';
import type { OpenedImage, OpenOptions } from '../backends/backend.js';
import type { Entry, FilesystemInfo } from '../types.js';
import { boundaryOf, BoundaryError } from './boundary.js';
import { combineImages, inventoryWithParents, keepBudget, KEEP_PER_FILE, treeRoot } from './opened.js';
import type { LayoutKind } from './shape.js';
import { compressionOf, readRange, tarSource, type FileRange, type TarSource } from './stream.js';
import { walkTar, type TarEntry } from './tar.js';
import { ContentStore, contentOf, TreeBuilder, type ContentRef } from './tree.js';

/** Named blobs of a layout: `manifest.json`, `blobs/sha256/<hex>` ... as byte ranges of host files. */
export interface BlobStore {
  get(name: string): Promise<FileRange | null>;
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
      return { file: range.file, start: range.start + (ext?.stored ?? 0), length: ext?.length ?? 0 };
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
      return { file: host, start: 0, length: st.size };
    },
  };
}

async function blobBytes(store: BlobStore, name: string, what: string): Promise<Buffer> {
  const r = await store.get(name);
  if (!r) throw new TargetError(`${what} ${name} is missing`);
  if (r.length > MAX_JSON) throw new TargetError(`${what} ${name} is implausibly large (${r.length} bytes)`);
  return readRange(r, 0, r.length);
}

function parseJson(buf: Buffer, what: string): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    throw new TargetError(`${what} is not valid JSON`);
  }
}

function checkDigest(buf: Buffer, digest: string, what: string): void {
  const m = DIGEST.exec(digest);
  if (!m) throw new TargetError(`${what}: unsupported digest '${digest.slice(0, 80)}'`);
  const got = createHash(m[1]!).update(buf).digest('hex');
  if (got !== m[2]) throw new TargetError(`${what}: digest mismatch (manifest says ${digest}, content is ${m[1]}:${got})`);
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

async function ociImages(store: BlobStore): Promise<ImageSpec[]> {
  const index = obj(parseJson(await blobBytes(store, 'index.json', 'OCI index'), 'index.json'));
  const out: ImageSpec[] = [];
  const visit = async (descs: unknown[], depth: number): Promise<void> => {
    if (depth > 4) throw new TargetError('OCI index nests too deep');
    for (const d of descs) {
      const desc = obj(d);
      const digest = str(desc.digest);
      if (!digest) throw new TargetError('OCI descriptor without a digest');
      const bytes = await blobBytes(store, blobName(digest), 'OCI blob');
      checkDigest(bytes, digest, `manifest ${digest}`);
      const doc = obj(parseJson(bytes, `manifest ${digest}`));
      const mediaType = str(desc.mediaType) ?? str(doc.mediaType) ?? '';
      if (INDEX_TYPES.includes(mediaType) || (Array.isArray(doc.manifests) && !Array.isArray(doc.layers))) {
        await visit(arr(doc.manifests), depth + 1);
        continue;
      }
      const cfgDigest = str(obj(doc.config).digest);
      if (!cfgDigest) throw new TargetError(`manifest ${digest} has no config`);
      const cfgBytes = await blobBytes(store, blobName(cfgDigest), 'image config');
      checkDigest(cfgBytes, cfgDigest, `image config ${cfgDigest}`);
      const ref = str(obj(desc.annotations)['org.opencontainers.image.ref.name']);
      out.push({
        label: ref ?? digest,
        config: obj(parseJson(cfgBytes, `image config ${cfgDigest}`)),
        layers: arr(doc.layers).map((l) => {
          const ld = str(obj(l).digest);
          if (!ld) throw new TargetError(`manifest ${digest}: a layer without a digest`);
          return { name: blobName(ld), rawDigest: ld, label: ld };
        }),
      });
    }
  };
  await visit(arr(index.manifests), 0);
  if (out.length === 0) throw new TargetError('the OCI index names no image');
  return out;
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
  const tree = new TreeBuilder((i) => spec.layers[i]?.label ?? 'layer');
  const keep = new ContentStore(keepBudget(), KEEP_PER_FILE);
  const sources: TarSource[] = [];
  for (const [i, layer] of spec.layers.entries()) {
    const range = await store.get(layer.name);
    if (!range) throw new TargetError(`layer ${i + 1} (${layer.name}) is missing`);
    const compression = compressionOf(await readRange(range, 0, 16));
    const src = tarSource(range, compression);
    sources.push(src);
    const raw = createHash('sha256');
    const tar = createHash('sha256');
    const started = Date.now();
    async function* hashed(): AsyncGenerator<Buffer> {
      for await (const c of src.open({ tap: (b) => raw.update(b), signal: opts.signal })) {
        tar.update(c);
        yield c;
      }
    }
    try {
      await walkTar(hashed(), {
        drain: true,
        signal: opts.signal,
        onEntry(e) {
          const ref = tree.apply(e, i, { whiteouts: true });
          return ref ? keep.keep(ref) : null;
        },
      });
    } catch (err) {
      if (err instanceof TargetError) throw new TargetError(`layer ${i + 1} (${layer.label}): ${err.message}`);
      throw err;
    }
    const check = (want: string | undefined, h: ReturnType<typeof createHash>, what: string) => {
      if (!want) return;
      const got = `sha256:${h.digest('hex')}`;
      if (!want.startsWith('sha256:')) throw new TargetError(`layer ${i + 1}: unsupported digest '${want.slice(0, 80)}'`);
      if (got !== want) throw new TargetError(`layer ${i + 1} (${layer.name}): ${what} digest mismatch (manifest says ${want}, content is ${got})`);
    };
    check(layer.rawDigest, raw, 'blob');
    check(layer.tarDigest, tar, 'diff_id');
    opts.verbose?.(`layer ${i + 1}/${spec.layers.length} ${layer.label}: applied in ${Date.now() - started} ms${compression ? ` (${compression})` : ''}`);
  }
  const inventory = tree.inventory();
  const roots: ImageRoot[] = [treeRoot(null, inventory, (p) => tree.refOf(p), sources, keep)];
  // Files later layers deleted or replaced: one root per layer that still ships them.
  const byLayer = new Map<number, Map<string, { entry: Entry; ref: ContentRef }>>();
  for (const s of tree.shadowed) {
    if (s.entry.type !== 'file') continue;
    let m = byLayer.get(s.layer);
    if (!m) byLayer.set(s.layer, (m = new Map()));
    m.set(s.entry.path, { entry: s.entry, ref: s.ref });
  }
  for (const [layer, files] of [...byLayer].sort((a, b) => a[0] - b[0])) {
    const label = spec.layers[layer]!.label;
    const inv = inventoryWithParents([...files.values()].map((f) => f.entry), label);
    roots.push(treeRoot(label, inv, (p) => files.get(p)?.ref, sources, keep, ['secret']));
  }
  const cfg = configFiles(spec.config);
  if (cfg.length > 0) roots.push(textRoot('config', cfg, 'config'));
  const filesystems: FilesystemInfo[] = spec.layers.map((l) => ({ device: l.label, type: 'layer', label: null, mountpoint: '/' }));
  return { backend: 'container', filesystems, roots, problems: tree.problems, async close() {} };
}

export async function openContainer(store: BlobStore, layout: LayoutKind, opts: OpenOptions): Promise<OpenedImage> {
  const specs = layout === 'oci-layout' ? await ociImages(store) : await dockerImages(store);
  opts.verbose?.(`${layout}: ${specs.length} image(s), ${specs.map((s) => `${s.label} (${s.layers.length} layers)`).join(', ')}`);
  const parts: Array<{ label: string; image: OpenedImage }> = [];
  for (const s of specs) parts.push({ label: s.label, image: await openOne(store, s, opts) });
  return combineImages(parts);
}
