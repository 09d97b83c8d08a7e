/**
 * One fingerprint per finding, shared by baselines and SARIF `partialFingerprints`: it names the leak, not the bytes
 * a rebuild changes. Two builds of the same configuration share every fingerprint even though each one brings a new
 * machine id, a new host key, a new temp dir behind the channels link, longer logs and histories, new store hashes.
 *
 * Recipe (version 2): sha256 over `v2 \0 ruleId \0 stablePath(path) \0 stablePath(key)`, where
 * - `path` is the finding's path inside the image with every `/nix/store/<hash>-` reduced to `/nix/store/*-` (and
 *   the same for `/nix/var/log/nix/drvs/<xx>/<hash>-`), so a store path keeps its name but not its hash;
 * - `key` is what the rule says identifies the leak besides its path (`ReportInput.key`), empty for most rules:
 *   instance identity, logs, histories, temp files and homes key on the path alone; dangling links on the link's
 *   own path (not the target, which names a temp dir); secrets on their kind and a hash of the value, so a rotated
 *   secret is a new finding; content matches on what matched (the build path prefix, the host identity).
 * docs/configuration.md lists what each rule keys on. Never in it: the image's file name, the message wording, the
 * severity, sizes, counts, the redacted evidence.
 *
 * Version 1 (hostleak 0.1.0) hashed the redacted evidence instead of a key; `legacyFingerprint` keeps it so baselines
 * written by 0.1.0 still load.
 */
import { nodeCrypto } from './lazy.js';
import type { Finding } from './types.js';

/** Bumped only if the recipe below changes (baselines and code-scanning alerts would all reopen). */
export const FINGERPRINT_VERSION = 2;

/** sha256 of a string (as UTF-8) or of bytes, hex unless asked otherwise; node:crypto loads on the first call. */
export function sha256(data: string | Uint8Array, encoding: 'hex' | 'base64' = 'hex'): string {
  return nodeCrypto().createHash('sha256').update(data).digest(encoding);
}

/** Store hashes out of a path (or any text naming store paths). */
export function stablePath(p: string): string {
  return p
    .replace(/\/nix\/store\/[0-9a-z]{32}-/g, '/nix/store/*-')
    .replace(/(\/nix\/var\/log\/nix\/drvs\/)[0-9a-z]{2}\/[0-9a-z]{30}-/g, '$1*/*-');
}

/** The key of a secret: its kind and a hash of its value (never the value). */
export function secretKey(kind: string, value: string): string {
  return `${kind}:${sha256(value)}`;
}

/** The key of several secrets in one finding (order and repeats do not matter). */
export function secretsKey(secrets: Iterable<{ kind: string; value: string }>): string {
  return [...new Set([...secrets].map((s) => secretKey(s.kind, s.value)))].sort().join(' ');
}

/** Hex sha256 of the version-2 recipe. */
export function fingerprintOf(ruleId: string, path: string, key: string | null | undefined): string {
  return sha256(`v${FINGERPRINT_VERSION}\0${ruleId}\0${stablePath(path)}\0${stablePath(key ?? '')}`);
}

/** A finding's fingerprint: the one the engine recorded, else the path-only recipe (reports from other tools). */
export function fingerprint(f: Pick<Finding, 'ruleId' | 'path' | 'fingerprint'>): string {
  return f.fingerprint ?? fingerprintOf(f.ruleId, f.path, null);
}

/** Version 1 (hostleak 0.1.0): sha256 over `v1 \0 ruleId \0 path \0 sha256(evidence)`. */
export function legacyFingerprint(f: Pick<Finding, 'ruleId' | 'path' | 'evidence'>): string {
  return sha256(`v1\0${f.ruleId}\0${f.path}\0${sha256(f.evidence ?? '')}`);
}
