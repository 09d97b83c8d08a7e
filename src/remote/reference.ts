/**
 * Image references in registries, as docker, podman and skopeo write them after the `docker://` transport:
 * `HOST[:PORT]/REPO[:TAG]`, `HOST/REPO@sha256:HEX`, and Docker Hub's short forms (`alpine`, `library/alpine`,
 * `user/app:1`). Which hosts are spoken to over plain HTTP is decided here too: loopback ones and those the user named
 * (`--insecure-registry`), like docker and skopeo.
 */
import { TargetError, UsageError } from '../errors.js';

export const REGISTRY_PREFIX = 'docker://';

/** Whether a target names a file behind HTTP(S) (read by src/remote/files.ts). */
export function isRemoteTarget(target: string): boolean {
  return /^https?:\/\//i.test(target);
}

export interface ImageReference {
  /** The registry as named: `127.0.0.1:5000`, `ghcr.io`, `docker.io`. */
  registry: string;
  /** Where its API is (Docker Hub's is registry-1.docker.io). */
  apiHost: string;
  /** The repository: `leaky/oci`, `library/alpine`. */
  repository: string;
  tag: string | null;
  digest: string | null;
}

/** Whether a target names an image in a registry. */
export function isRegistryReference(target: string): boolean {
  return target.startsWith(REGISTRY_PREFIX);
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/;
const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?$/;

/**
 * Parse `docker://...`. A reference that is not one is a TargetError whose message never repeats what stood before
 * an `@` in the host part (a `user:password@` there would be a credential).
 */
export function parseReference(target: string): ImageReference {
  if (!isRegistryReference(target)) throw new TargetError('not a docker:// image reference');
  let rest = target.slice(REGISTRY_PREFIX.length);
  const slash = rest.indexOf('/');
  const first = slash < 0 ? rest : rest.slice(0, slash);
  if (first.includes('@')) throw new TargetError('credentials in an image reference are not accepted: keep them in an auth file (docs/targets.md)');
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new TargetError(`bad digest in the image reference (sha256:<64 hex> expected)`);
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  if (parts.length > 1 && (/[.:]/.test(parts[0]!) || parts[0] === 'localhost' || parts[0]!.startsWith('['))) registry = parts.shift()!;
  if (!HOST.test(registry)) throw new TargetError(`bad registry host '${registry.slice(0, 100)}' in the image reference`);
  let tag: string | null = null;
  const last = parts[parts.length - 1] ?? '';
  const colon = last.lastIndexOf(':');
  if (colon >= 0) {
    tag = last.slice(colon + 1);
    parts[parts.length - 1] = last.slice(0, colon);
    if (!TAG.test(tag)) throw new TargetError(`bad tag '${tag.slice(0, 130)}' in the image reference`);
  }
  if (registry === 'docker.io' && parts.length === 1) parts.unshift('library');
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) {
    throw new TargetError(`bad repository '${parts.join('/').slice(0, 200)}' in the image reference (lower-case name components separated by /)`);
  }
  if (tag === null && digest === null) tag = 'latest';
  return { registry, apiHost: registry === 'docker.io' ? 'registry-1.docker.io' : registry, repository: parts.join('/'), tag, digest };
}

/** `HOST/REPO:TAG` or `HOST/REPO@DIGEST`, as a reference names its image (never a credential). */
export function referenceName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== null ? `:${ref.tag}` : ''}${ref.digest !== null ? `@${ref.digest}` : ''}`;
}

function hostOnly(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, hostPort.indexOf(']'));
  const i = hostPort.lastIndexOf(':');
  return i >= 0 ? hostPort.slice(0, i) : hostPort;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);

/**
 * Whether a registry is spoken to over plain HTTP: loopback hosts (`localhost`, `127.0.0.1`, `::1`, any port), and
 * those named by `--insecure-registry HOST[:PORT]` (a bare HOST covers every port). Everything else is HTTPS with
 * the certificate checked.
 */
export function plainHttp(registry: string, insecure: readonly string[] = []): boolean {
  const host = hostOnly(registry).toLowerCase();
  if (LOOPBACK.has(host)) return true;
  return insecure.some((h) => {
    const x = h.toLowerCase();
    return x === registry.toLowerCase() || (!/:[0-9]+$/.test(x.replace(/^\[.*\]/, '')) && hostOnly(x) === host);
  });
}

/** `--insecure-registry` values, checked: a HOST or HOST:PORT, nothing else. */
export function insecureRegistries(values: unknown): string[] {
  const list = (Array.isArray(values) ? values : values === undefined ? [] : [values]).map(String);
  for (const v of list) if (!HOST.test(v)) throw new UsageError(`--insecure-registry takes HOST or HOST:PORT, not '${v}'`);
  return list;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** `--platform os/arch[/variant]` (default linux/amd64). */
export function parsePlatform(value: unknown): Platform {
  if (value === undefined) return { os: 'linux', architecture: 'amd64' };
  const m = /^([a-z0-9]+)\/([a-z0-9_]+)(?:\/([a-z0-9]+))?$/.exec(String(value));
  if (!m) throw new UsageError(`--platform takes os/arch[/variant] (e.g. linux/arm64/v8), not '${String(value)}'`);
  return { os: m[1]!, architecture: m[2]!, ...(m[3] ? { variant: m[3] } : {}) };
}

export function platformName(p: Partial<Platform>): string {
  return [p.os ?? '?', p.architecture ?? '?', p.variant].filter(Boolean).join('/');
}
