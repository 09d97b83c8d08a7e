/**
 * A container image in a registry (`docker://HOST[:PORT]/REPO:TAG`, `...@sha256:...`): its manifest (an index or
 * manifest list picks the platform, `--platform`, default linux/amd64), then the config and layers through the same
 * container resolution as a local OCI layout (src/resolve/container.ts: whiteouts, shipped-but-hidden files, the
 * config's secrets). Blobs stream from the registry as they are applied, never written to disk; each is checked against
 * its digest and size as it streams. The opened image carries the digest of the image manifest audited.
 */
import { TargetError } from '../errors.js';
import type { OpenedImage, OpenOptions } from '../backends/backend.js';
import { authFiles, credentialFor } from '../remote/auth.js';
import { parseReference, platformName, type Platform } from '../remote/reference.js';
import { RegistryClient, type RegistrySession } from '../remote/registry.js';
import { checkDigest, isIndex, openManifest, parseJson, type BlobStore } from './container.js';
import { streamSource } from './stream.js';
import { nodeCrypto } from '../lazy.js';

export interface RegistryTargetOptions {
  /** The platform an index is resolved to (default linux/amd64). */
  platform?: Platform;
  /** `--insecure-registry` hosts. */
  insecure?: readonly string[];
  /** Where the auth files are found (REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, HOME, DOCKER_CONFIG). */
  env?: NodeJS.ProcessEnv;
  /**
   * The image manifest already resolved for this reference (the result cache's key, src/store/run.ts): it is fetched
   * by that digest, so the tag and index are not asked again and what is audited is what the cache stores it under.
   */
  digest?: string;
  /** The login of an earlier client for the same reference (the cache's lookup): src/remote/registry.ts. */
  session?: RegistrySession;
}

const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The descriptor of an index that is the platform's image. */
function pickPlatform(index: Record<string, unknown>, want: Platform): Record<string, unknown> {
  const descs = arr(index.manifests).map(obj);
  const platformOf = (d: Record<string, unknown>) => obj(d.platform) as Partial<Platform>;
  const matches = descs.filter((d) => {
    const p = platformOf(d);
    return p.os === want.os && p.architecture === want.architecture && (want.variant === undefined || p.variant === want.variant);
  });
  if (matches.length > 0) return matches.find((d) => platformOf(d).variant === undefined) ?? matches[0]!;
  // An index that names no platform at all (an OCI layout's index.json pushed as it is) and holds one image: that one.
  if (descs.length === 1 && descs[0]!.platform === undefined) return descs[0]!;
  const have = descs
    .map(platformOf)
    .filter((p) => p.os !== undefined && p.os !== 'unknown')
    .map((p) => platformName(p));
  throw new TargetError(`no image for ${platformName(want)} in the index (it has ${have.length ? [...new Set(have)].join(', ') : 'no platform named'}): pick one with --platform`);
}

interface Resolved {
  client: RegistryClient;
  /** The image manifest's digest. */
  digest: string;
  doc: Record<string, unknown>;
}

async function resolveManifest(target: string, ropts: RegistryTargetOptions, signal?: AbortSignal, verbose?: (m: string) => void): Promise<Resolved> {
  const ref = parseReference(target);
  const env = ropts.env ?? process.env;
  const credential = await credentialFor(ref, env);
  verbose?.(`registry ${ref.registry}, repository ${ref.repository}: ${credential ? `credential from ${credential.file}` : 'anonymous'}`);
  const client = new RegistryClient(ref, { insecure: ropts.insecure, credential, authFiles: authFiles(env), signal, verbose, session: ropts.session });
  let want = ropts.digest ?? ref.digest ?? ref.tag!;
  for (let depth = 0; ; depth++) {
    const { bytes, mediaType } = await client.manifest(want);
    const digest = want.startsWith('sha') ? want : `sha256:${nodeCrypto().createHash('sha256').update(bytes).digest('hex')}`;
    checkDigest(bytes, digest, `manifest ${digest}`);
    const doc = obj(parseJson(bytes, `manifest ${digest}`));
    if (!isIndex(doc, mediaType)) {
      if (obj(doc.config).digest === undefined) throw new TargetError(`manifest ${digest} is not an image manifest (no config)`);
      return { client, digest, doc };
    }
    if (depth >= 4) throw new TargetError('the image index nests too deep');
    const desc = pickPlatform(doc, ropts.platform ?? DEFAULT_PLATFORM);
    const next = desc.digest;
    if (typeof next !== 'string') throw new TargetError('a manifest descriptor without a digest');
    verbose?.(`index ${digest}: ${platformName(ropts.platform ?? DEFAULT_PLATFORM)} is ${next}`);
    want = next;
  }
}

/** The digest of the image manifest a reference names for the platform (the result cache's key); no blob is read. */
export async function registryIdentity(target: string, ropts: RegistryTargetOptions, signal?: AbortSignal, verbose?: (m: string) => void): Promise<string> {
  return (await resolveManifest(target, ropts, signal, verbose)).digest;
}

/** Blobs of one manifest, by digest, from the registry: sizes from the manifest's descriptors. */
function registryBlobs(client: RegistryClient, doc: Record<string, unknown>): BlobStore {
  const sizes = new Map<string, number>();
  for (const d of [doc.config, ...arr(doc.layers)].map(obj)) {
    if (typeof d.digest !== 'string') continue;
    if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw new TargetError(`descriptor ${d.digest.slice(0, 80)} has no valid size`);
    sizes.set(d.digest, d.size);
  }
  return {
    async get(name) {
      const size = sizes.get(name);
      if (size === undefined) return null;
      return {
        length: size,
        read: (start, len) => client.blobRange(name, start, Math.min(len, size - start)),
        source: (compression) => streamSource((signal) => client.blobStream(name, size, signal), compression),
      };
    },
  };
}

/** Open a registry image: the manifest for the platform, then config and layers streamed through the container path. */
export async function openRegistryImage(target: string, ropts: RegistryTargetOptions, opts: OpenOptions): Promise<OpenedImage> {
  const r = await resolveManifest(target, ropts, opts.signal, opts.verbose);
  const image = await openManifest(registryBlobs(r.client, r.doc), r.doc, r.digest, opts);
  return { ...image, digest: r.digest };
}
