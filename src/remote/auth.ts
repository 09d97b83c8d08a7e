/**
 * Registry credentials where the ecosystem keeps them (containers-auth.json(5), docker's config.json):
 * `$REGISTRY_AUTH_FILE` alone when set; else `$XDG_RUNTIME_DIR/containers/auth.json`,
 * `$XDG_CONFIG_HOME/containers/auth.json` (~/.config), `$DOCKER_CONFIG/config.json` (~/.docker), the first that has an
 * entry for the registry. An entry is keyed by `HOST[:PORT]` or by a namespace under it (`HOST/org/repo`, the longest
 * that holds the repository wins; docker's `https://index.docker.io/v1/` is Docker Hub), and holds `auth` (base64
 * `user:password`) or `username` and `password`. Credential helpers (`credsStore`, `credHelpers`) are not run.
 * Every credential read is registered with the redaction chokepoint, so it never appears in any output.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TargetError } from '../errors.js';
import { registerCredential } from './credentials.js';
import type { ImageReference } from './reference.js';

export interface Credential {
  username: string;
  password: string;
  /** The auth file it came from (for messages: a path, never the credential). */
  file: string;
}

/** The auth files looked at, in order. */
export function authFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  const home = env.HOME ?? os.homedir();
  const out: string[] = [];
  if (env.XDG_RUNTIME_DIR) out.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  out.push(path.join(env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'containers', 'auth.json'));
  out.push(path.join(env.DOCKER_CONFIG ?? path.join(home, '.docker'), 'config.json'));
  return out;
}

/** An auth key as a registry and namespace: scheme, trailing slash and docker's `/v1/` dropped. */
function normalizeKey(key: string): string {
  let k = key.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  if (k === 'index.docker.io/v1' || k === 'index.docker.io' || k === 'registry-1.docker.io') k = 'docker.io';
  return k.replace(/\/v[12]$/, '');
}

const MAX_AUTH_FILE = 4 * 1024 * 1024;

async function readAuths(file: string): Promise<Record<string, unknown> | null> {
  let st;
  try {
    st = await fsp.stat(file);
  } catch {
    return null;
  }
  if (!st.isFile() || st.size > MAX_AUTH_FILE) throw new TargetError(`auth file ${file}: not a regular file of plausible size`);
  let doc: unknown;
  try {
    doc = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch {
    throw new TargetError(`auth file ${file} is not valid JSON`);
  }
  const auths = (doc as { auths?: unknown } | null)?.auths;
  return auths && typeof auths === 'object' && !Array.isArray(auths) ? (auths as Record<string, unknown>) : {};
}

function credentialOf(entry: unknown, file: string): Credential | null {
  const e = (entry ?? {}) as Record<string, unknown>;
  let username: string | undefined;
  let password: string | undefined;
  if (typeof e.auth === 'string' && e.auth !== '') {
    registerCredential(e.auth);
    const plain = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i < 0) throw new TargetError(`auth file ${file}: an 'auth' entry that is not base64 of user:password`);
    username = plain.slice(0, i);
    password = plain.slice(i + 1);
  } else if (typeof e.username === 'string' && typeof e.password === 'string') {
    username = e.username;
    password = e.password;
  }
  if (username === undefined || password === undefined) return null;
  registerCredential(password);
  registerCredential(`${username}:${password}`);
  registerCredential(Buffer.from(`${username}:${password}`).toString('base64'));
  return { username, password, file };
}

/** The credential for an image's repository, or null (anonymous). */
export async function credentialFor(ref: ImageReference, env: NodeJS.ProcessEnv = process.env): Promise<Credential | null> {
  const want = `${ref.registry}/${ref.repository}`;
  for (const file of authFiles(env)) {
    const auths = await readAuths(file);
    if (!auths) continue;
    let best: { key: string; entry: unknown } | null = null;
    for (const [key, entry] of Object.entries(auths)) {
      const k = normalizeKey(key);
      if ((k === ref.registry || want.startsWith(`${k}/`)) && (!best || k.length > best.key.length)) best = { key: k, entry };
    }
    const cred = best && credentialOf(best.entry, file);
    if (cred) return cred;
  }
  return null;
}
